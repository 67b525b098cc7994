"""``make soak``: steady signed traffic for 60 s over loopback while faults are injected.

A gunicorn worker is SIGKILLed at 20 % of the run, and the database is made unavailable at
50 % (SQLite: another process holds an exclusive lock; PostgreSQL, when DATABASE_URL names
it: the cluster is stopped and started), during which another worker is killed mid-request.
Then every event answered 2xx must be stored exactly once, and while the store was down the
service must have answered 503 with Retry-After, never 2xx or 500. Exits 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import faults  # noqa: E402
from bench import soak_load as load  # noqa: E402
from bench.verdict import check, stored_counts, verdict  # noqa: E402
from tests.support import Server  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def prepare(url: str) -> dict:
    """Schema and one tenant, made in this process through the app's own code."""
    from app import create_app
    from conversions.store.database import connection
    from conversions.tenants import accounts

    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text"})
    with connection():
        return accounts.create(f"soak-{uuid.uuid4().hex[:12]}.example",
                              f"soak-{uuid.uuid4().hex[:12]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=30, help="new events a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=4, help="seconds the store is down")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'soak.db'}"
    postgres = url.startswith("postgres")
    tenant = prepare(url)
    env = {"DATABASE_URL": url, "CONVERSIONS_SQLITE_BUSY_TIMEOUT_MS": "200",
           "CONVERSIONS_RATELIMIT_INGEST": "100000 per minute",
           "CONVERSIONS_RATELIMIT_PER_ADDRESS": "100000 per minute",
           "CONVERSIONS_LOG_FORMAT": "json"}
    RESULTS.mkdir(exist_ok=True)
    log_path = work / "gunicorn.log"
    events: list[dict] = []
    started: set[str] = set()
    threads: list[threading.Thread] = []

    def at(elapsed: float) -> None:
        # The second kill lands while workers wait on the unavailable store: mid-request.
        schedule = {"kill": 0.2 * args.seconds, "outage": 0.5 * args.seconds,
                    "kill-busy": 0.5 * args.seconds + args.outage / 2}
        for name, when in schedule.items():
            if elapsed >= when and name not in started:
                started.add(name)
                thread = threading.Thread(target=lambda n=name: events.append(inject(n)))
                thread.start()
                threads.append(thread)

    def inject(name: str) -> dict:
        if name.startswith("kill"):
            return faults.kill_worker(server.process.pid)
        if postgres:
            return faults.restart_postgres(url, args.outage)
        return faults.lock_sqlite(url.split(":///", 1)[1], args.outage)

    print(f"soak: {args.seconds:.0f} s at {args.rate:g} events/s over {', '.join(load.SOURCES)}"
          f" on {'PostgreSQL' if postgres else 'SQLite'}, {args.workers} gunicorn workers")
    with Server(env, workers=args.workers, log_path=log_path) as server:
        sent = load.run(server.port, tenant, args.seconds, args.rate, threads=48, at=at)
        for thread in threads:
            thread.join()
    outage = next(e for e in events if "start" in e)
    figures = verdict(sent, stored_counts(tenant["tenant_id"]), outage)
    figures["faults"] = events
    figures["database"] = "postgresql" if postgres else "sqlite"
    figures["seconds"], figures["rate"] = args.seconds, args.rate
    problems = check(figures, events)
    figures["ok"] = not problems
    (RESULTS / f"soak-{figures['database']}.json").write_text(json.dumps(figures, indent=2))
    for name in ("sent", "acknowledged", "stored", "lost", "duplicates", "5xx_other_than_503",
                 "requests", "connection_errors", "503_with_retry_after",
                 "stored_unacknowledged"):
        print(f"{name:>22}: {figures[name]}")
    print(f"{'during outage':>22}: {figures['during_outage']} (status: requests)")
    for event in events:
        detail = (f"pid {event['pid']}, respawned: {event['respawned']}" if "pid" in event
                  else f"{event['end'] - event['start']:.1f} s")
        print(f"{'fault':>22}: {event['fault']} ({detail})")
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        print(f"soak: FAILED (server log: {log_path})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"soak: ok (figures: {RESULTS.relative_to(ROOT)}/soak-{figures['database']}.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
