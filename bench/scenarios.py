"""The bench's scenarios, in the order they run (``bench/run.py`` drives them)."""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import open_loop, signed
from bench.load import Gunicorn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.run import Bench

DOMAIN = "bench.example.com"
BUYER = "bench-buyer"
# Every rule stays on; only the rate limit is raised above what the bench can send.
SERVICE_ENV = {"CONVERSIONS_RATELIMIT_INGEST": "100000000 per minute",
               "CONVERSIONS_RATELIMIT_PER_ADDRESS": "100000000 per minute",
               "CONVERSIONS_LOG_FORMAT": "json"}
PIXEL_QUERY = (f"buyer_id={BUYER}&source_type=pixel&event_name=purchase&event_value=12.50"
               "&currency=USD")
PIXEL_PATH = "/api/conversions/pixel?" + PIXEL_QUERY
FLOOR = "Flask route, no work"
NAIVE = "naive, synchronous=FULL"
NORMAL = "pixel, durability=normal"
FULL = "pixel, durability=full"
# Upper bound of events/s the bench prepares distinct webhook deliveries for.
WEBHOOK_EVENTS_PER_S = 40000


class Service:
    """The service on its own SQLite database, with one tenant, at a durability mode."""

    def __init__(self, tmp: Path, durability: str, name: str = "") -> None:
        from app import create_app
        from conversions.store.database import connection
        from conversions.tenants import accounts

        name = name or durability
        self.path = tmp / f"service-{name}.db"
        self.url = f"sqlite:///{self.path}"
        self.app = create_app({"DATABASE_URL": self.url, "LOG_FORMAT": "text"})
        with connection():
            self.tenant = accounts.create(DOMAIN, BUYER)
        self.env = {**SERVICE_ENV, "DATABASE_URL": self.url,
                    "CONVERSIONS_DURABILITY": durability,
                    "CONVERSIONS_SQLITE_SYNCHRONOUS": durability.upper()}
        self.routes = {rule.rule for rule in self.app.url_map.iter_rules()}
        self.log = tmp / f"service-{name}.log"

    def count(self, source_type: str) -> int:
        with sqlite3.connect(self.path) as db:
            return db.execute("SELECT count(*) FROM event WHERE source_type = ?",
                              (source_type,)).fetchone()[0]

    @contextmanager
    def serve(self) -> Iterator[Gunicorn]:
        with Gunicorn("wsgi:app", self.env, self.log, ready_path="/healthz") as server:
            yield server


def pixel(bench: Bench, service: Service, server: Gunicorn, name: str, **row: Any) -> None:
    path = PIXEL_PATH
    slug = re.sub(r"[^a-z0-9]+", "-", name)
    measured = bench.drive(server, "pixel.lua", [path, f"{slug}-{signed.TAG_SAFE}"],
                           [path, f"warm-{slug}-{signed.TAG_SAFE}"],
                           lambda: service.count("pixel"))
    bench.record(name, measured, **row)


def open_pixel(bench: Bench, service: Service, server: Gunicorn, name: str) -> None:
    """The pixel at half the rate it just reached, on a fixed schedule."""
    tag = f"open-{signed.TAG_SAFE}"
    bench.open_loop(f"{name} at half its max", server,
                    lambda i: ("GET", f"{PIXEL_PATH}&event_id={tag}-{i}", [], b""),
                    bench.by_name[name]["rps"] / 2, lambda: service.count("pixel"))


def goal(bench: Bench, service: Service, server: Gunicorn, name: str, **row: Any) -> None:
    tenant = service.tenant
    count = int(bench.by_name["baseline"]["rps"] * (float(bench.seconds) + 1) * 1.2) + 1000
    slug = re.sub(r"[^a-z0-9]+", "-", name)
    bodies = signed.write(bench.tmp / f"{slug}.txt", signed.goals(
        tenant["tenant_id"], tenant["pixel_secret"], DOMAIN, count, f"{slug}-{signed.TAG_SAFE}"))
    warm = signed.write(bench.tmp / f"{slug}-warm.txt", signed.goals(
        tenant["tenant_id"], tenant["pixel_secret"], DOMAIN, 2000, f"warm-{slug}"))
    threads = str(bench.wrk_threads)
    measured = bench.drive(server, "replay.lua", [str(bodies), threads],
                           [str(warm), threads], lambda: service.count("goal"))
    bench.record(name, measured, distinct=count, **row)


def open_goal(bench: Bench, service: Service, server: Gunicorn, name: str) -> None:
    """Signed goals at half the rate they just reached, on a fixed schedule."""
    tenant = service.tenant
    rate = bench.by_name[name]["rps"] / 2
    lines = list(signed.goals(tenant["tenant_id"], tenant["pixel_secret"], DOMAIN,
                              int(rate * (bench.seconds + 1)) + 100, f"open-{signed.TAG_SAFE}"))
    bench.open_loop(f"{name} at half its max", server,
                    lambda i: open_loop.parse_line(lines[i % len(lines)]), rate,
                    lambda: service.count("goal"))


def webhook(bench: Bench, service: Service, server: Gunicorn, size: int, **row: Any) -> None:
    tenant = service.tenant
    name = f"webhook batch of {size:,}"
    count = int(WEBHOOK_EVENTS_PER_S * (bench.seconds + 1) / size) + 20
    tag = f"{size}-{signed.TAG_SAFE}"
    bodies = signed.write(bench.tmp / f"webhook-{size}.txt", signed.webhooks(
        tenant["tenant_id"], tenant["webhook_secret"], count, size, tag))
    warm = signed.write(bench.tmp / f"webhook-{size}-warm.txt", signed.webhooks(
        tenant["tenant_id"], tenant["webhook_secret"], 40, size, f"warm-{tag}"))
    threads = str(bench.wrk_threads)
    measured = bench.drive(server, "replay.lua", [str(bodies), threads],
                           [str(warm), threads], lambda: service.count("webhook"))
    bench.record(name, measured, events=size, distinct=count, ratio_to=None, **row)


def run_all(bench: Bench, only: set[str] | None = None) -> None:
    """Every group of scenarios, or those named in ``only``: ``service``, ``middleware``,
    ``durability``, ``metrics``. The baseline runs first and last; its better run counts (so a
    quieter moment never flatters the service)."""
    tmp = bench.tmp
    with Gunicorn("bench.apps:gif", {}, tmp / "baseline.log") as server:
        result = bench.drive(server, "plain.lua", [], [])
        bench.record("baseline", result, ratio_to=None)
    for group in (_service, _middleware, _durability, _metrics):
        if not only or group.__name__.strip("_") in only:
            group(bench, tmp)
    with Gunicorn("bench.apps:gif", {}, tmp / "baseline.log") as server:
        bench.record_again("baseline", bench.drive(server, "plain.lua", [], []))
    bench.compute_ratios()
    _judge(bench)


def _service(bench: Bench, tmp: Path) -> None:
    # The framework's own floor: a Flask route answering the GIF, no work, no middleware.
    with Gunicorn("bench.apps:flask_gif", {}, tmp / "flask.log") as server:
        bench.record(FLOOR, bench.drive(server, "plain.lua", [], []))
    service = Service(tmp, "normal")
    with service.serve() as server:
        pixel(bench, service, server, "pixel", ratio_to=FLOOR,
              target=">= 60% of floor, p99 <= 15 ms")
        open_pixel(bench, service, server, "pixel")
        goal(bench, service, server, "signed goal", ratio_to=FLOOR,
             target=">= 60% of floor, p99 <= 15 ms")
        open_goal(bench, service, server, "signed goal")
        for size, events_per_s in ((100, 25000), (1000, 30000)):
            webhook(bench, service, server, size, target=f">= {events_per_s:,} events/s")


def _middleware(bench: Bench, tmp: Path) -> None:
    """The raw-body app with and without the middleware, in alternating halves of the time
    (on a shared machine the load drifts), each side's better half counting."""
    raw_file = signed.write(tmp / "raw.txt", [signed.raw()] * bench.wrk_threads)
    args = [str(raw_file), str(bench.wrk_threads)]
    best: dict[str, tuple[dict, None]] = {}
    with Gunicorn("bench.apps:raw", {}, tmp / "raw.log") as plain, \
            Gunicorn("bench.apps:signed_raw", {}, tmp / "signed-raw.log") as signed_server:
        for _ in range(2):
            for name, server in (("raw body", plain), ("raw body + middleware", signed_server)):
                measured = bench.drive(server, "replay.lua", args, args,
                                       seconds=bench.seconds / 2)
                if name not in best or measured[0]["rps"] > best[name][0]["rps"]:
                    best[name] = measured
    bench.record("raw body", best["raw body"])
    bench.record("raw body + middleware", best["raw body + middleware"], ratio_to="raw body",
                 target=">= 95% (overhead <= 5%)")


def _durability(bench: Bench, tmp: Path) -> None:
    """The pixel at full and at normal durability, and the naive app at synchronous=FULL,
    all up at once and measured in alternating thirds of the time, each one's best counting."""
    naive_db = tmp / "naive-full.db"
    naive_env = {"NAIVE_DATABASE": str(naive_db), "NAIVE_SYNCHRONOUS": "FULL"}
    normal, full = Service(tmp, "normal", "normal-paired"), Service(tmp, "full")
    naive_path = "/pixel?" + PIXEL_QUERY
    best: dict[str, tuple[dict, int | None]] = {}
    with Gunicorn("bench.naive:app", naive_env, tmp / "naive.log") as naive, \
            normal.serve() as normal_server, full.serve() as full_server:
        sides = {NAIVE: (naive, naive_path, lambda: _naive_rows(naive_db)),
                 NORMAL: (normal_server, PIXEL_PATH, lambda: normal.count("pixel")),
                 FULL: (full_server, PIXEL_PATH, lambda: full.count("pixel"))}
        for round_ in range(2):
            for name, (server, path, count) in sides.items():
                tag = f"{re.sub(r'[^a-z0-9]+', '-', name)}-{round_}-{signed.TAG_SAFE}"
                measured = bench.drive(server, "pixel.lua", [path, tag], [path, f"warm-{tag}"],
                                       count, seconds=bench.seconds / 2)
                if name not in best or measured[0]["rps"] > best[name][0]["rps"]:
                    best[name] = measured
    bench.record(NAIVE, best[NAIVE])
    bench.record(NORMAL, best[NORMAL])
    bench.record(FULL, best[FULL], ratio_to=NORMAL, target=">= 90% of normal")


def _metrics(bench: Bench, tmp: Path) -> None:
    """The pixel and the signed goal with Prometheus' instruments on and off
    (``CONVERSIONS_METRICS_ENABLED=0``), both servers up at once and measured in alternating
    halves of the time, each side's better half counting."""
    sides = {"on": Service(tmp, "normal", "metrics-on"), "off": Service(tmp, "normal",
                                                                        "metrics-off")}
    sides["off"].env["CONVERSIONS_METRICS_ENABLED"] = "0"
    best: dict[str, tuple[dict, int | None]] = {}
    threads = str(bench.wrk_threads)
    count = int(bench.by_name["baseline"]["rps"] * (bench.seconds / 2 + 1) * 1.2) + 1000
    with sides["on"].serve() as on, sides["off"].serve() as off:
        servers = {"on": on, "off": off}
        for round_ in range(2):
            for state, service in sides.items():
                tag = f"metrics-{state}-{round_}-{signed.TAG_SAFE}"
                name = f"pixel, metrics {state}"
                measured = bench.drive(servers[state], "pixel.lua", [PIXEL_PATH, tag],
                                       [PIXEL_PATH, f"warm-{tag}"],
                                       lambda service=service: service.count("pixel"),
                                       seconds=bench.seconds / 2)
                if name not in best or measured[0]["rps"] > best[name][0]["rps"]:
                    best[name] = measured
                tenant = service.tenant
                bodies = signed.write(tmp / f"goals-{tag}.txt", signed.goals(
                    tenant["tenant_id"], tenant["pixel_secret"], DOMAIN, count, f"g-{tag}"))
                warm = signed.write(tmp / f"goals-warm-{tag}.txt", signed.goals(
                    tenant["tenant_id"], tenant["pixel_secret"], DOMAIN, 2000, f"w-{tag}"))
                name = f"signed goal, metrics {state}"
                measured = bench.drive(servers[state], "replay.lua", [str(bodies), threads],
                                       [str(warm), threads],
                                       lambda service=service: service.count("goal"),
                                       seconds=bench.seconds / 2)
                if name not in best or measured[0]["rps"] > best[name][0]["rps"]:
                    best[name] = measured
    for what, distinct in (("pixel", None), ("signed goal", count)):
        bench.record(f"{what}, metrics off", best[f"{what}, metrics off"], ratio_to=None,
                     distinct=distinct)
        bench.record(f"{what}, metrics on", best[f"{what}, metrics on"],
                     ratio_to=f"{what}, metrics off", target=">= 95% (overhead <= 5%)",
                     distinct=distinct)


def _naive_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM event").fetchone()[0]


def _judge(bench: Bench) -> None:
    """Mark each row with a target as met or not."""
    for row in bench.rows:
        target = row["target"]
        events = re.match(r">= ([\d,]+) events/s", target)
        latency = re.search(r"p99 <= (\d+) ms", target)
        ratio = re.match(r">= (\d+)%", target)
        met = []
        if events:
            met.append(row["events_per_s"] >= int(events.group(1).replace(",", "")))
        if ratio and row["ratio"] is not None:
            met.append(row["ratio"] >= int(ratio.group(1)) / 100)
        if latency:
            met.append(row["p99_ms"] <= int(latency.group(1)))
        if met:
            row["met"] = all(met)
