"""``make bench``: the service against a bare-WSGI baseline, an empty Flask route (the
framework's floor) and a naive app, in one run, each under gunicorn with the production
worker settings and driven by wrk; the rows stored are checked against the 2xx answers.

``BENCH_SECONDS``, ``BENCH_CONNECTIONS``, ``BENCH_WRK_THREADS`` and ``BENCH_ONLY`` change the
drive; docs/performance.md ("Running the benchmark") describes every scenario.
"""
from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, open_loop, report
from bench.load import Gunicorn

ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("BENCH_SECONDS", 10))
WARMUP = float(os.environ.get("BENCH_WARMUP_SECONDS", 2))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 16))
THREADS = int(os.environ.get("BENCH_WRK_THREADS", 2))


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.rows: list[dict[str, Any]] = []
        self.by_name: dict[str, dict[str, Any]] = {}
        self.seconds = SECONDS
        self.wrk_threads = THREADS

    def drive(self, server: Gunicorn, script: str, args: list[str], warmup_args: list[str],
              count: Callable[[], int] | None = None,
              seconds: float = SECONDS) -> tuple[dict, int | None]:
        """Warm up, then measure; with ``count``, also the rows stored during the measure.

        The result also has ``cpu_us``: the server's CPU time per request answered.
        """
        quiet = 0.5
        if WARMUP:
            warm = load.wrk(server.url, script, warmup_args, seconds=WARMUP,
                            connections=CONNECTIONS, threads=THREADS)
            quiet = _quiet(warm)
        before = _settled(count, quiet) if count else 0
        cpu = server.cpu_seconds()
        result = load.wrk(server.url, script, args, seconds=seconds, connections=CONNECTIONS,
                          threads=THREADS)
        stored = None if count is None else _settled(count, _quiet(result)) - before
        result["cpu_us"] = (server.cpu_seconds() - cpu) / max(1, result["requests"]) * 1e6
        return result, stored

    def record(self, name: str, measured: tuple[dict, int | None], *, events: int = 1,
               ratio_to: str | None = "baseline", target: str = "", met: bool | None = None,
               distinct: int | None = None) -> dict[str, Any]:
        result, stored = measured
        answered = result["ok"]
        expected = answered * events if distinct is None else min(answered, distinct) * events
        # wrk stops reading at its deadline: up to one answer a connection is stored unread.
        in_flight = 0 if stored is None else stored - expected
        row = {
            "scenario": name, "rps": result["rps"], "requests": result["requests"],
            "events_per_s": result["rps"] * events if events > 1 else None,
            "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
            "cpu_us": result.get("cpu_us"), "events": events,
            "non_2xx": result["non_2xx"], "socket_errors": result["socket_errors"],
            "answered_2xx": answered * events, "rows_stored": stored,
            "rows_ok": stored is None or 0 <= in_flight <= CONNECTIONS * events,
            "unread_at_deadline": in_flight,
            "ratio_to": ratio_to, "ratio": None, "target": target, "met": met,
        }
        self.rows.append(row)
        self.by_name[name] = row
        print(report.text([row]).splitlines()[-1], flush=True)
        return row


    def open_loop(self, name: str, server: Gunicorn,
                  requests: Callable[[int], open_loop.Request], rate: float,
                  count: Callable[[], int]) -> dict[str, Any]:
        """``requests`` at a fixed ``rate`` (open loop); p99 counted from when each was due."""
        before = _settled(count, 0.5)
        cpu = server.cpu_seconds()
        result = open_loop.run(server.url, requests, rate=rate, seconds=self.seconds,
                               connections=CONNECTIONS)
        stored = _settled(count, 0.5) - before
        cpu_us = (server.cpu_seconds() - cpu) / max(1, result["requests"]) * 1e6
        name = f"{name}, open loop at {rate:,.0f}/s"
        row = {
            "scenario": name, "rps": result["achieved_rps"], "requests": result["requests"],
            "offered_rps": rate, "events_per_s": None,
            "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
            "cpu_us": cpu_us, "events": 1,
            "non_2xx": result["non_2xx"], "socket_errors": 0,
            "answered_2xx": result["ok"], "rows_stored": stored,
            "rows_ok": stored == result["ok"], "unread_at_deadline": 0,
            "ratio_to": None, "ratio": None, "target": "p99 <= 10 ms", "met": None,
        }
        self.rows.append(row)
        self.by_name[name] = row
        print(report.text([row]).splitlines()[-1], flush=True)
        return row

    def record_again(self, name: str, measured: tuple[dict, int | None]) -> None:
        """A second run of ``name``: the better one counts, both are kept."""
        row = self.by_name[name]
        result = measured[0]
        row.setdefault("runs_rps", [row["rps"]]).append(result["rps"])
        if result["rps"] > row["rps"]:
            row.update(rps=result["rps"], requests=result["requests"], cpu_us=result["cpu_us"],
                       p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000)
        print(f"{name} again: {result['rps']:,.0f} requests/s", flush=True)

    def compute_ratios(self) -> None:
        for row in self.rows:
            if row["ratio_to"] in self.by_name:
                row["ratio"] = row["rps"] / self.by_name[row["ratio_to"]]["rps"]


def _quiet(result: dict) -> float:
    """How long no new row must appear before the server is taken to have finished: longer
    than the slowest answer of the run (bounded)."""
    return min(20.0, max(0.5, 1.5 * result["max_us"] / 1e6))


def _settled(count: Callable[[], int], quiet: float) -> int:
    """The row count once requests wrk stopped waiting for have finished on the server."""
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def machine(workers: str) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load_avg = os.getloadavg()
    return {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "nproc": os.cpu_count(), "load_average_before": load_avg, "duration": SECONDS,
            "connections": CONNECTIONS, "wrk_threads": THREADS, "workers": workers,
            "python": platform.python_version()}


def worker_settings(tmp: Path) -> str:
    probe = ("exec(open('config/gunicorn.conf.py').read()); threads = globals().get('threads', 1);"
             "print(f'{worker_class}, {workers} workers x {threads} threads')")
    # A metrics directory of the run's own: else the config makes one no server removes.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp)}
    return subprocess.run(["python3", "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


def main() -> None:
    from bench import scenarios

    with tempfile.TemporaryDirectory(prefix="conversions-bench-") as tmp:
        bench = Bench(Path(tmp))
        about = machine(worker_settings(Path(tmp)))
        print(f"bench: {about['cpu']}, {about['nproc']} cores, load {about['load_average_before']}"
              f", {about['workers']}, {SECONDS:g} s a scenario, {CONNECTIONS} connections")
        started = time.monotonic()
        only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name}
        scenarios.run_all(bench, only)
        about["load_average_after"] = os.getloadavg()
        print(f"\n{report.text(bench.rows)}\n({time.monotonic() - started:.0f} s)")
        report.write(bench.rows, about, ROOT / "bench" / "results")
        print("written: bench/results/latest.json, latest.md, latest.png")
        if not all(row["rows_ok"] for row in bench.rows):
            raise SystemExit("rows stored differ from 2xx answered: see the table")
        if any(row["non_2xx"] for row in bench.rows):
            raise SystemExit("some answers were not 2xx: see the errors column")


if __name__ == "__main__":
    main()
