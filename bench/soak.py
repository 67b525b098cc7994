"""``make soak``: mixed traffic near capacity over loopback for 5 minutes, with faults.

Goals, pixels and webhook batches round-robin at ``--rate`` requests a second (default:
half the pixel's maximum, measured first on the same server with wrk). Rate limits are
counted in a Redis of the soak's own. A gunicorn worker is SIGKILLed at 20 % of the run;
Redis is killed at 35 % and comes back empty (limits fail open meanwhile); the database is
made unavailable at 50 % (SQLite: another process holds an exclusive lock; PostgreSQL:
``--postgres`` runs a throwaway cluster of its own and stops it, a DATABASE_URL naming one
stops that cluster), during which another worker is killed mid-request; on SQLite the writer
process is SIGKILLed at 75 %, writes in flight (store/writer/process.py). Then every event
answered 2xx must be stored exactly once, every 5xx must be a 503 with Retry-After, and while
the store was down the service must have answered 503, never 2xx or 500. Exits 1 otherwise.
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
from bench import load as wrk_load  # noqa: E402
from bench import soak_load as load  # noqa: E402
from bench.verdict import check, stored_counts, verdict  # noqa: E402
from tests.support import Server, free_port  # noqa: E402

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


def pixel_maximum(url: str, buyer_id: str) -> float:
    """The pixel's requests a second under wrk (16 connections, 5 s), for another tenant."""
    query = f"/api/conversions/pixel?buyer_id={buyer_id}&event_name=measure&event_value=1.50"
    result = wrk_load.wrk(url, "pixel.lua", [query + "&currency=USD", uuid.uuid4().hex[:8]],
                          seconds=5, connections=16, threads=2)
    return result["rps"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=None,
                        help="requests a second (default: half the pixel's measured maximum)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=8,
                        help="seconds the store (and Redis) are down")
    parser.add_argument("--postgres", action="store_true",
                        help="on a throwaway PostgreSQL cluster of the soak's own")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    cluster = faults.PrivatePostgres(free_port(), work).start() if args.postgres else None
    try:
        return soak(args, work, cluster)
    finally:
        if cluster:
            cluster.stop()


def soak(args: argparse.Namespace, work: Path, cluster: faults.PrivatePostgres | None) -> int:
    url = cluster.url if cluster else (os.environ.get("DATABASE_URL")
                                       or f"sqlite:///{work / 'soak.db'}")
    postgres = url.startswith("postgres")
    tenant, measuring = prepare(url), prepare(url)
    redis = faults.PrivateRedis(free_port(), work).start()
    env = {"DATABASE_URL": url, "CONVERSIONS_SQLITE_BUSY_TIMEOUT_MS": "200",
           "CONVERSIONS_RATELIMIT_INGEST": "100000000 per minute",
           "CONVERSIONS_RATELIMIT_PER_ADDRESS": "100000000 per minute",
           "CONVERSIONS_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{redis.port}",
           "CONVERSIONS_LOG_FORMAT": "json", "ACCESS_LOG": ""}
    RESULTS.mkdir(exist_ok=True)
    log_path = work / "gunicorn.log"
    events: list[dict] = []
    started: set[str] = set()
    threads: list[threading.Thread] = []

    def at(elapsed: float) -> None:
        # The second kill lands while workers wait on the unavailable store: mid-request.
        schedule = {"kill": 0.2 * args.seconds, "redis": 0.35 * args.seconds,
                    "outage": 0.5 * args.seconds,
                    "kill-busy": 0.5 * args.seconds + args.outage / 2}
        if not postgres:
            schedule["writer"] = 0.75 * args.seconds
        for name, when in schedule.items():
            if elapsed >= when and name not in started:
                started.add(name)
                thread = threading.Thread(target=lambda n=name: events.append(inject(n)))
                thread.start()
                threads.append(thread)

    def inject(name: str) -> dict:
        if name.startswith("kill"):
            return faults.kill_worker(server.process.pid)
        if name == "writer":
            return faults.kill_writer(server.process.pid)
        if name == "redis":
            return redis.go_away(args.outage)
        if cluster:
            return cluster.restart(args.outage)
        if postgres:
            return faults.restart_postgres(url, args.outage)
        return faults.lock_sqlite(url.split(":///", 1)[1], args.outage)

    try:
        with Server(env, workers=args.workers, log_path=log_path) as server:
            maximum = pixel_maximum(server.url, measuring["buyer_id"])
            rate = args.rate or maximum / 2
            print(f"soak: {args.seconds:.0f} s at {rate:,.0f} requests/s (pixel maximum "
                  f"{maximum:,.0f}/s) over {', '.join(load.SOURCES)} (webhooks in batches of "
                  f"{load.BATCH}) on {'PostgreSQL' if postgres else 'SQLite'}, "
                  f"{args.workers} gunicorn workers", flush=True)
            sent = load.run(server.port, tenant, args.seconds, rate, threads=48, at=at)
            for thread in threads:
                thread.join()
    finally:
        redis.stop()
    outage = next(e for e in events if e["fault"] != "redis killed" and "start" in e)
    figures = verdict(sent, stored_counts(tenant["tenant_id"]), outage)
    figures["faults"] = events
    figures["database"] = "postgresql" if postgres else "sqlite"
    figures["seconds"], figures["rate"], figures["pixel_maximum"] = args.seconds, rate, maximum
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
