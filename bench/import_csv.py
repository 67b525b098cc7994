"""The offline import at scale: ``python -m bench.import_csv [ROWS ...]`` (default 100000
and 1000000), each into a new SQLite store through ``flask import-csv``, reporting wall time
and the process's peak resident memory. Writes ``bench/results/import-csv.json``.

Rows are generic-format purchases spread over the last 80 days, one in a hundred without an
event_id (keyed by digest), so the run exercises parsing, the rules, staging and storage.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_file(path: Path, rows: int) -> None:
    now = int(time.time())
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffevent_name,event_ts,value,currency,event_id,click_id\r\n")
        for n in range(rows):
            moment = datetime.fromtimestamp(now - 3600 - (n * 6911) % (80 * 86400), UTC)
            event_id = "" if n % 100 == 0 else f"order-{n}"
            out.write(f"purchase,{moment:%Y-%m-%dT%H:%M:%SZ},{n % 5000}.{n % 100:02d},USD,"
                      f"{event_id},gclid-{n:08d}\r\n")


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True)


def measure(rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
               "CONVERSIONS_LOG_FORMAT": "text", "CONVERSIONS_IMPORT_MAX_ERRORS": "100"}
        flask(env, "tenant", "create", "--domain", "bench.example")
        path = Path(tmp) / "offline.csv"
        write_file(path, rows)
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "import-csv", str(path),
             "--domain", "bench.example", "--format", "generic"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        output = process.stdout.read().decode() if process.stdout else ""
        if status != 0:
            raise SystemExit(f"import failed: {process.stderr.read().decode()}")
        result = json.loads(output)
        return {"rows": rows, "file_mb": round(path.stat().st_size / 1e6, 1),
                "seconds": round(seconds, 1), "rows_per_second": int(rows / seconds),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "inserted": result["inserted"], "duplicates": result["duplicates"]}


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000]
    runs = []
    for rows in sizes:
        run = measure(rows)
        print(json.dumps(run), flush=True)
        runs.append(run)
    out = ROOT / "bench" / "results" / "import-csv.json"
    out.write_text(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
