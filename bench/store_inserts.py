"""The store's insert paths timed in-process, without HTTP: what the events' layout costs.

``python -m bench.store_inserts [--rounds N]`` makes a new database on ``DATABASE_URL``'s
server (dropped after) and times single events, batches of 100, the same batches from 4
threads (the group commit), batches of duplicates and the bulk path (new conversions, then
conversions a pixel reported first), in events/s a round; docs/scaling.md quotes its figures.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from app import create_app
from bench.scale import store
from conversions.store.database import connection
from conversions.store.events import insert_batch, insert_event, insert_new
from conversions.tenants import accounts

SINGLES = 2000
BATCHES = 100
BATCH = 100
THREADS = 4
BULK = 20_000


def row(tenant_id: str, key: str, now_ms: int) -> dict[str, Any]:
    return {"tenant": tenant_id, "source_type": "webhook", "signed": True,
            "event_name": "purchase", "value_hundredths": 1250, "currency": "USD",
            "occurred_at_ms": now_ms - 1000, "received_at_ms": now_ms, "dedup_key": key}


def bulk_rows(tenant_id: str, tag: str, now_ms: int, source: str) -> list[dict[str, Any]]:
    return [{**row(tenant_id, f"id:{tag}-{n}", now_ms), "source_type": source,
             "signed": source != "pixel"} for n in range(BULK)]


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def one_round(tenant_id: str, tag: str) -> dict[str, float]:
    now_ms = int(time.time() * 1000)

    def singles() -> None:
        for n in range(SINGLES):
            insert_event(row(tenant_id, f"id:{tag}-s{n}", now_ms))

    def batches(prefix: str, count: int, keys: str | None = None) -> None:
        for b in range(count):
            rows = [row(tenant_id, f"id:{keys or prefix}-{b}-{n}", now_ms) for n in range(BATCH)]
            delivery = {"tenant": tenant_id, "message_id": f"msg-{prefix}-{b}",
                        "received_at_ms": now_ms, "event_count": BATCH,
                        "window_start_ms": now_ms - 3_600_000}
            insert_batch(rows, delivery)

    def threaded() -> None:
        workers = [threading.Thread(target=batches, args=(f"{tag}-t{t}", BATCHES // THREADS))
                   for t in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    imported = bulk_rows(tenant_id, f"{tag}-i", now_ms, "import")
    insert_new(bulk_rows(tenant_id, f"{tag}-o", now_ms, "pixel"))
    over_pixels = bulk_rows(tenant_id, f"{tag}-o", now_ms, "import")
    return {
        "single events/s": SINGLES / timed(singles),
        "batches of 100, 1 thread, events/s": BATCHES * BATCH / timed(
            lambda: batches(f"{tag}-b", BATCHES)),
        "batches of 100, 4 threads, events/s": BATCHES * BATCH / timed(threaded),
        "duplicate batches, events/s": BATCHES * BATCH / timed(
            lambda: batches(f"{tag}-d", BATCHES, keys=f"{tag}-b")),
        "bulk import, rows/s": BULK / timed(lambda: insert_new(imported)),
        "bulk import over pixels, rows/s": BULK / timed(lambda: insert_new(over_pixels)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or None
    with tempfile.TemporaryDirectory() as tmp, store(url, Path(tmp), "inserts") as db_url:
        create_app({"DATABASE_URL": db_url, "SCHEDULER_ENABLED": False, "LOG_FORMAT": "text"})
        with connection():
            tenant_id = accounts.create("bench.example", "bench-buyer")["tenant_id"]
        for number in range(args.rounds):
            figures = one_round(tenant_id, f"r{number}")
            load = os.getloadavg()[0]
            print(f"round {number + 1} (load {load:.2f}): " + ", ".join(
                f"{name} {value:,.0f}" for name, value in figures.items()), flush=True)


if __name__ == "__main__":
    main()
