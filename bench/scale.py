"""``make scale``: the figures at a large history (``N`` events, default 2,000,000).

Generates the history through the service's own bulk path, then measures ingestion, the
aggregation catch-up and every read against a real gunicorn; ``DATABASE_URL`` picks the
store. docs/scaling.md ("Measured: make scale") describes each phase and quotes the results.
"""
from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from conversions_client import sign_webhook
from tqdm import tqdm

from app import create_app
from bench.load import free_port
from conversions.core.periods import DAY_MS
from conversions.rollups import aggregation
from conversions.store.database import connection, database
from conversions.store.events import insert_new
from conversions.tenants import accounts

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The sizes whose results are kept in the tree (docs/scaling.md quotes them).
TRACKED_SIZES = (100_000, 2_000_000, 10_000_000)
TENANTS = 10
DAYS = 90
INSERT_BATCH = 50_000
CLIENTS = 4
BATCH_EVENTS = 100
INGEST_SECONDS = 20
REQUESTS = 20
NEW_EVENTS = 10_000
SOURCES = (("pixel", False, 0.40), ("goal", True, 0.30), ("webhook", True, 0.25),
           ("postback", False, 0.05))
NAMES = ("purchase", "signup", "add_to_cart", "lead")


@contextmanager
def store(url: str | None, tmp: Path, name: str):
    """A new, empty store: a SQLite file, or a database made on the given server."""
    if not url:
        yield f"sqlite:///{tmp / name}.db"
        return
    name = f"conversions_{name}_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def event_rows(tenant_id: str, count: int, start_ms: int, end_ms: int, rng: random.Random,
               tag: str) -> list[dict[str, Any]]:
    """``count`` events of one tenant, received in time order over ``[start_ms, end_ms)``."""
    weights = [weight for _, _, weight in SOURCES]
    rows = []
    step = (end_ms - start_ms) / max(count, 1)
    for index in range(count):
        received = int(start_ms + index * step)
        source, signed, _ = rng.choices(SOURCES, weights)[0]
        late = rng.random() < 0.02  # received hours to days after it occurred
        occurred = received - (rng.randint(3_600_000, 5 * DAY_MS) if late
                               else rng.randint(0, 30_000))
        value = rng.choice((None, rng.randint(100, 50_000)))
        first_touch = (occurred - int(rng.lognormvariate(15, 1.5)) * 1000
                       if source == "goal" and rng.random() < 0.6 else None)
        rows.append({
            "tenant": tenant_id, "source_type": source, "signed": signed,
            "event_name": rng.choice(NAMES), "value_hundredths": value,
            "currency": rng.choice(("USD", "USD", "EUR")) if value is not None else None,
            "first_touch_bucket": rng.choice(("ai_search", "search", None))
            if source == "goal" else None,
            "first_touch_at_ms": first_touch if first_touch and first_touch > 0 else None,
            "occurred_at_ms": max(occurred, 0), "received_at_ms": received,
            "dedup_key": f"{'sig' if source == 'goal' else 'id'}:{tag}-{index}",
        })
    return rows


def phase(name: str, total: float, unit: str) -> tqdm:
    """A progress bar on standard error for one phase of the run."""
    return tqdm(total=total, desc=name, unit=unit, unit_scale=unit == "events", file=sys.stderr,
                dynamic_ncols=True)


def generate(tenants: list[str], total: int, now_ms: int, rng: random.Random) -> float:
    """``total`` events over the last DAYS days, 90 % for the first tenant; returns seconds."""
    started = time.monotonic()
    bar = phase("generate history", total, "events")
    shares = [int(total * 0.9)] + [total // 10 // (TENANTS - 1)] * (TENANTS - 1)
    shares[0] += total - sum(shares)
    span = DAYS * DAY_MS
    chunk_ms = span // max(1, total // INSERT_BATCH)
    for chunk_start in range(now_ms - span, now_ms, chunk_ms):
        chunk_end = min(chunk_start + chunk_ms, now_ms)
        rows = []
        for tenant_id, share in zip(tenants, shares, strict=True):
            count = round(share * (chunk_end - chunk_start) / span)
            rows += event_rows(tenant_id, count, chunk_start, chunk_end, rng,
                               f"h{chunk_start}")
        insert_new(rows)
        bar.update(len(rows))
    bar.close()
    return time.monotonic() - started


class Server:
    """gunicorn serving the store on a free loopback port, the scheduler off."""

    def __init__(self, database_url: str, tmp: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "BIND": f"127.0.0.1:{self.port}",
               "CONVERSIONS_SCHEDULER_ENABLED": "false", "ACCESS_LOG": "",
               "CONVERSIONS_RATELIMIT_INGEST": "100000000 per minute",
               "CONVERSIONS_RATELIMIT_PER_ADDRESS": "100000000 per minute",
               "CONVERSIONS_SECRET_KEY_FILE": str(tmp / "secret_key"),
               "CONVERSIONS_LOG_LEVEL": "WARNING"}
        with open(tmp / "gunicorn.log", "a") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start: see {tmp / 'gunicorn.log'}")

    def get(self, path: str) -> tuple[int, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, time.perf_counter() - started

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values) or [0.0]
    return round(ordered[min(len(ordered) - 1, int(percent / 100 * len(ordered)))] * 1000, 1)


def ingest(server: Server, tenant: dict[str, str], stop: threading.Event,
           seconds: int | None = None, name: str = "ingest") -> dict[str, Any]:
    """Signed webhook batches of BATCH_EVENTS from CLIENTS threads until ``stop`` (or
    ``seconds``), for throughput; beside them one probe sends single-event deliveries, 20 a
    second, for the latency one event waits."""
    latencies: dict[str, list[float]] = {"batch": [], "single": []}
    failures = [0]
    lock = threading.Lock()
    path = f"/api/conversions/webhook?tenant_id={tenant['tenant_id']}"

    def client(size: int, kind: str, pause: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        mine = []
        while not stop.is_set():
            tag = uuid.uuid4().hex
            now_s = int(time.time())
            signed = sign_webhook(tenant["webhook_secret"], [
                {"event_name": "purchase", "event_value": "19.99", "currency": "USD",
                 "event_ts": now_s - 5, "event_id": f"{tag}-{n}"} for n in range(size)])
            started = time.perf_counter()
            conn.request("POST", path, body=signed.body, headers=signed.headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 202:
                with lock:
                    failures[0] += 1
            stop.wait(pause)
        conn.close()
        with lock:
            latencies[kind].extend(mine)

    threads = [threading.Thread(target=client, args=(BATCH_EVENTS, "batch", 0))
               for _ in range(CLIENTS)]
    threads.append(threading.Thread(target=client, args=(1, "single", 0.05)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    if seconds is not None:
        with phase(name, seconds, "s") as bar:
            for _ in range(seconds):
                stop.wait(1)
                bar.update(1)
        stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    batches, singles = latencies["batch"], latencies["single"]
    return {"events_per_s": round((len(batches) * BATCH_EVENTS + len(singles)) / elapsed),
            "requests": len(batches) + len(singles), "failures": failures[0],
            "batch_p50_ms": percentile(batches, 50), "batch_p99_ms": percentile(batches, 99),
            "single_p50_ms": percentile(singles, 50), "single_p99_ms": percentile(singles, 99)}


def reads(server: Server, tenant_id: str) -> dict[str, dict[str, float]]:
    """p50 and p95 (ms) of REQUESTS requests to each read endpoint, after one to warm up."""
    query = f"tenant_id={tenant_id}"
    paths = {
        "attribution (30 days)": f"/api/conversions/attribution?{query}",
        "attribution (90 days)": f"/api/conversions/attribution?{query}&from="
                                 + datetime.fromtimestamp(time.time() - DAYS * 86400, UTC)
                                 .strftime("%Y-%m-%dT00:00:00Z"),
        "stats (day, 30 days)": f"/api/conversions/stats?{query}&granularity=day",
        "stats (hour, 1 day)": f"/api/conversions/stats?{query}",
        "metrics (day, by event)": f"/api/conversions/metrics?{query}&granularity=day"
                                   "&group_by=event_name",
        "metrics csv": f"/api/conversions/metrics?{query}&granularity=day&format=csv",
        "coverage (1 day)": f"/api/conversions/coverage?{query}",
        "coverage (30 days)": f"/api/conversions/coverage?{query}&from="
                              + datetime.fromtimestamp(time.time() - 30 * 86400, UTC)
                              .strftime("%Y-%m-%dT%H:00:00Z"),
        "readiness": f"/api/conversions/readiness?{query}",
        "health": f"/api/conversions/health?{query}",
        "taxonomy": "/api/conversions/ingestion/error-taxonomy",
        "security status": f"/api/conversions/security/status?{query}",
        "settings page": f"/settings/system?{query}",
    }
    figures = {}
    bar = phase("reads", len(paths) * (REQUESTS + 1), "requests")
    for name, path in paths.items():
        status, _ = server.get(path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
        times = sorted(server.get(path)[1] * 1000 for _ in range(REQUESTS))
        bar.update(REQUESTS + 1)
        figures[name] = {"p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(times[int(0.95 * REQUESTS) - 1], 1)}
    bar.close()
    return figures


def catch_up(app: Any, end_ms: int) -> float:
    """Seconds this process takes to aggregate up to ``end_ms``."""
    started = time.monotonic()
    with app.app_context(), connection():
        aggregation.aggregate(end_ms)
    return time.monotonic() - started


def job_catch_up(app: Any, database_url: str, end_ms: int) -> tuple[float, float]:
    """Seconds the aggregate job (``flask jobs run aggregate``, its own process, as the
    scheduler runs it) takes to bring the cursor to ``end_ms``, run after run, and the CPU
    seconds its processes used (a figure that holds when other work shares the cores)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the server is not waited for
    with app.app_context(), connection():
        first = aggregation.cursor_ms()
    bar = phase("aggregation catch-up", round((end_ms - first) / 3_600_000), "hours")
    while True:
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "jobs", "run",
                        "aggregate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with app.app_context(), connection():
            cursor = aggregation.cursor_ms()
        bar.update(round((min(cursor, end_ms) - first) / 3_600_000) - bar.n)
        if cursor >= end_ms:
            bar.close()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return time.monotonic() - started, cpu


def sizes(url: str) -> dict[str, float]:
    """Megabytes on disk: each table with its indexes, a partitioned one with its partitions
    (PostgreSQL); the file (SQLite)."""
    if url.startswith("sqlite"):
        return {"database file": round(Path(urlsplit(url).path).stat().st_size / 1e6, 1)}
    tables = ("event", "event_key", "hourly_aggregate", "daily_aggregate", "daily_attribution")
    return {table: round(float(database.execute_sql(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), pg_total_relation_size(%s)) "
        "FROM pg_partition_tree(%s)", (table, table)).fetchone()[0]) / 1e6, 1)
        for table in tables}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(events: int, database_url: str | None) -> dict[str, Any]:
    kind = "postgresql" if database_url else "sqlite"
    rng = random.Random(16)
    result: dict[str, Any] = {
        "store": kind, "events": events, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()}, "load_average": {}}
    with tempfile.TemporaryDirectory(prefix="conversions-scale-") as name:
        tmp = Path(name)
        with store(database_url, tmp, "empty") as empty_url:  # the reference: an empty store
            app = create_app({"DATABASE_URL": empty_url, "SCHEDULER_ENABLED": False})
            with app.app_context(), connection():
                reference = accounts.create("empty.example", "buyer-empty")
            server = Server(empty_url, tmp)
            try:
                result["load_average"]["empty_ingest"] = load()
                result["ingest_empty"] = ingest(server, reference, threading.Event(),
                                                INGEST_SECONDS, "ingest, empty store")
            finally:
                server.stop()
        with store(database_url, tmp, "scale") as url:
            app = create_app({"DATABASE_URL": url, "SCHEDULER_ENABLED": False})
            with app.app_context(), connection():
                tenants = [accounts.create(f"shop{n}.example", f"buyer-{n}")
                           for n in range(TENANTS)]
                now_ms = int(time.time() * 1000)
                result["load_average"]["generate"] = load()
                result["generate_s"] = round(generate([t["tenant_id"] for t in tenants], events,
                                                      now_ms - 60_000, rng), 1)
                if kind == "postgresql":
                    # As autovacuum does after a bulk load, done now rather than in the middle
                    # of the figures (a vacuum of the whole table stalls the reads it meets).
                    database.execute_sql("VACUUM ANALYZE")
            server = Server(url, tmp)
            try:
                stop = threading.Event()
                during: dict[str, Any] = {}
                load_thread = threading.Thread(
                    target=lambda: during.update(ingest(server, tenants[0], stop)))
                result["load_average"]["catch_up"] = load()
                load_thread.start()
                seconds, cpu = job_catch_up(app, url, now_ms - 60_000)
                result["catch_up_s"], result["catch_up_cpu_s"] = round(seconds, 1), round(cpu, 1)
                stop.set()
                load_thread.join()
                result["ingest_during_catch_up"] = during
                catch_up(app, int(time.time() * 1000) - 10_000)  # what ingestion added
                result["load_average"]["ingest"] = load()
                result["ingest_at_size"] = ingest(server, tenants[0], threading.Event(),
                                                  INGEST_SECONDS, "ingest at size")
                # Ingestion has stopped: caught up to now, as a reader sees the store between
                # bursts (the tail is what the job has not reached, at most an interval's).
                catch_up(app, int(time.time() * 1000) + 1)
                result["load_average"]["reads"] = load()
                result["reads"] = reads(server, tenants[0]["tenant_id"])
            finally:
                server.stop()
            with app.app_context(), connection():
                # Received after the cursor, as live events are (one stored behind it would
                # count nowhere: only an import does that, and has its periods recomputed).
                fresh_ms = int(time.time() * 1000)
                insert_new(event_rows(tenants[0]["tenant_id"], NEW_EVENTS,
                                      max(fresh_ms - 60_000, aggregation.cursor_ms()),
                                      fresh_ms, rng, "new"))
            result["load_average"]["incremental"] = load()
            result["incremental_s"] = round(catch_up(app, fresh_ms + 1), 2)
            with app.app_context(), connection():
                result["sizes_mb"] = sizes(url)
    return result


def rates(figures: dict[str, Any]) -> str:
    return (f"{figures['events_per_s']:,} events/s; one event p99 {figures['single_p99_ms']} ms"
            f", a batch of {BATCH_EVENTS} p99 {figures['batch_p99_ms']} ms")


def table(result: dict[str, Any]) -> str:
    empty, at_size = result["ingest_empty"], result["ingest_at_size"]
    during = result["ingest_during_catch_up"]
    lines = [f"{result['store']}, {result['events']:,} events, {result['when']}, "
             f"{result['machine']['cores']} cores",
             "| figure | value | load average |", "| --- | --- | --- |"]
    avg = result["load_average"]
    lines += [
        f"| generate history | {result['generate_s']} s | {avg['generate'][0]} |",
        f"| aggregation catch-up | {result['catch_up_s']} s ({result['catch_up_cpu_s']} s of CPU)"
        f" | {avg['catch_up'][0]} |",
        f"| incremental run after {NEW_EVENTS:,} events | {result['incremental_s']} s "
        f"| {avg['incremental'][0]} |",
        f"| ingestion, empty store | {rates(empty)} | {avg['empty_ingest'][0]} |",
        f"| ingestion at size | {rates(at_size)}; "
        f"{at_size['events_per_s'] / max(empty['events_per_s'], 1):.0%} of empty "
        f"| {avg['ingest'][0]} |",
        f"| ingestion during catch-up | {rates(during)} | {avg['catch_up'][0]} |",
    ]
    lines += [f"| {name} | p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms | {avg['reads'][0]} |"
              for name, f in result["reads"].items()]
    lines += [f"| size: {name} | {megabytes:,} MB | |"
              for name, megabytes in result["sizes_mb"].items()]
    return "\n".join(lines)


def log_to_file(path: Path) -> None:
    """This process's logs into ``path``, not between the bars and the table (marked as the
    service's handler, so ``create_app`` keeps it instead of adding one on standard error)."""
    handler = logging.FileHandler(path)
    handler._conversions = True  # type: ignore[attr-defined]  (conversions/web/logs.py)
    logging.getLogger().addHandler(handler)


def results_path(kind: str, events: int) -> Path:
    """Where a run's results go: the tree for the quoted sizes, else the temporary directory."""
    folder = RESULTS if events in TRACKED_SIZES else Path(tempfile.gettempdir())
    return folder / f"scale-{kind}-{events}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=int(os.environ.get("N") or 2_000_000))
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL") or None
    kind = "postgresql" if database_url else "sqlite"
    out = results_path(kind, args.events)
    log = Path(tempfile.gettempdir()) / f"scale-{kind}-{args.events}.log"
    log_to_file(log)
    print(f"{kind}, {args.events:,} events; logs: {log}", file=sys.stderr)
    result = run(args.events, database_url)
    print(table(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
