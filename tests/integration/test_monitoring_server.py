"""Monitoring in a real gunicorn with 2 workers whose schedulers fire every second: each job
runs once per interval, stats equal what was ingested, error counts equal the rejections
sent, and a source goes stale and recovers when the shared clock file moves time."""
from __future__ import annotations

import json
import os
import threading
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

import pytest

from tests import support
from tests.support import Server, http, post_goal, until

pytestmark = pytest.mark.slow

WINDOW = 3600
# How long to wait for what the jobs do on their own schedule, and how often to look.
POLL = {"timeout": 20.0, "interval": 0.2}
ALERTS: list[dict] = []


class AlertReceiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        ALERTS.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitoring-server")
    url, (tenant,) = support.served_database(tmp, ("monitored.example.com", "buyer-monitored"))
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), AlertReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    clock_file = tmp / "clock-offset"
    clock_file.write_text("0")
    env = {"DATABASE_URL": url, "CONVERSIONS_LOG_FORMAT": "text",
           "CONVERSIONS_CLOCK_FILE": str(clock_file),
           "CONVERSIONS_FRESHNESS_WINDOW_SECONDS": str(WINDOW),
           "CONVERSIONS_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_port}/",
           "CONVERSIONS_ALERT_RETRY_SECONDS": "0.2",
           "CONVERSIONS_AGGREGATE_SETTLE_SECONDS": "1"}
    for job in ("AGGREGATE", "STALENESS", "PRUNE", "FLUSH"):
        env[f"CONVERSIONS_{job}_INTERVAL_SECONDS"] = "1"
    with Server(env, workers=2, log_path=tmp / "gunicorn.log") as server:
        yield {"server": server, "tenant": tenant, "clock_file": clock_file}
    receiver.shutdown()


def read(monitored, path, **query):
    query_string = "&".join(f"{k}={v}" for k, v in query.items())
    status, _, body = http("GET", f"{monitored['server'].url}/api/conversions/{path}?"
                           + query_string)
    assert status == 200, body
    return json.loads(body)


def totals(series):
    events, values = Counter(), Counter()
    for row in series:
        events[row["source_type"]] += row["events"]
        for currency, amount in row["value"].items():
            values[currency] += Decimal(amount)
    return dict(events), dict(values)


def test_stats_equal_what_was_ingested_and_errors_the_rejections_sent(monitored):
    goals = [("purchase", 12.5, "USD"), ("purchase", 7.25, "USD"), ("purchase", 30, "EUR"),
             ("signup", None, None), ("signup", None, None), ("upgrade", 99.99, "USD")]
    server, tenant = monitored["server"], monitored["tenant"]
    for index, (name, value, currency) in enumerate(goals):
        post_goal(server, tenant, name, f"ok-{index}", value=value, currency=currency,
                  expect=202)
    for index in range(3):
        post_goal(server, tenant, session=f"bad-{index}", signature="ab" * 32, expect=401)
    for index in range(2):
        post_goal(server, tenant, session=f"x-{index}", domain="nobody.example", expect=404)
    post_goal(server, tenant, session="call me at 555-867-5309", expect=400)
    post_goal(server, tenant, session="neg", value=-1, currency="USD", expect=400)

    tenant_id = monitored["tenant"]["tenant_id"]
    expected = ({"goal": 6}, {"USD": Decimal("119.74"), "EUR": Decimal("30.00")})
    assert totals(read(monitored, "stats", tenant_id=tenant_id)["series"]) == expected

    rejections = {"invalid_signature": 3, "pii_rejected": 1, "invalid_event": 1}
    until(lambda: read(monitored, "health")["errors"] == {**rejections, "unknown_domain": 2},
          **POLL)
    assert read(monitored, "health", tenant_id=tenant_id)["errors"] == rejections

    def aggregated() -> bool:
        from conversions.rollups import aggregation
        from conversions.store.database import connection
        from conversions.store.models import Event

        with connection():
            last = Event.select(Event.received_at_ms).order_by(Event.id.desc()).scalar()
            return aggregation.cursor_ms() > last

    until(aggregated, **POLL)
    assert totals(read(monitored, "stats", tenant_id=tenant_id)["series"]) == expected
    metrics = read(monitored, "metrics", tenant_id=tenant_id, group_by="event_name",
                   granularity="day")
    assert sum(row["conversions"] for row in metrics["series"]) == 6
    assert read(monitored, "health")["aggregation"]["status"] == "ok"


def source_state(monitored):
    from conversions.store.database import connection
    from conversions.store.models import SourceState

    with connection():
        row = SourceState.get_or_none(SourceState.source_type == "goal")
        return row and (row.last_event_at_ms, row.stale_since_ms)


def test_a_source_goes_stale_and_recovers_via_the_clock_file(monitored):
    tenant_id = monitored["tenant"]["tenant_id"]
    assert read(monitored, "readiness", tenant_id=tenant_id)["state"] == "ready"
    until(lambda: source_state(monitored) and source_state(monitored)[1] is None, **POLL)
    last_event_ms = source_state(monitored)[0]
    monitored["clock_file"].write_text(str(WINDOW + 600))

    until(lambda: source_state(monitored)[1] is not None, **POLL)
    assert source_state(monitored) == (last_event_ms, last_event_ms + WINDOW * 1000)
    readiness = read(monitored, "readiness", tenant_id=tenant_id)
    assert (readiness["ready"], readiness["state"]) == (False, "not_ready")
    assert read(monitored, "health", tenant_id=tenant_id)["ingestion"]["status"] == "stale"
    until(lambda: len(ALERTS) == 1, **POLL)
    assert ALERTS[0]["alert"] == "source_stale"
    assert (ALERTS[0]["tenant_id"], ALERTS[0]["source_type"]) == (tenant_id, "goal")

    post_goal(monitored["server"], monitored["tenant"], session="back", value=1, currency="USD",
              expect=202)
    assert read(monitored, "readiness", tenant_id=tenant_id)["state"] == "ready"
    until(lambda: source_state(monitored)[1] is None, **POLL)
    assert read(monitored, "health", tenant_id=tenant_id)["ingestion"]["status"] == "receiving"
    assert len(ALERTS) == 1


def test_each_job_ran_once_per_interval_without_overlap(monitored):
    from conversions.store.database import connection
    from conversions.store.models import JobRun

    def finished_runs() -> list:
        with connection():
            return list(JobRun.select().where(JobRun.finished_at_ms.is_null(False))
                        .order_by(JobRun.started_at_ms, JobRun.id))

    jobs = ("aggregate", "staleness", "prune")
    until(lambda: all(Counter(r.job for r in finished_runs())[job] >= 3 for job in jobs),
          **POLL)
    runs = finished_runs()
    for job in jobs:
        mine = [r for r in runs if r.job == job]
        assert len(mine) >= 3, job
        assert all(r.error is None and r.finished_at_ms is not None for r in mine), job
        slots = [r.started_at_ms // 1000 for r in mine]
        assert len(set(slots)) == len(slots), f"{job} ran twice in one interval"
        for before, after in pairwise(mine):
            assert after.started_at_ms >= before.finished_at_ms, f"{job} runs overlapped"
    workers = {r.holder.rsplit(":", 1)[1] for r in runs}
    assert str(os.getpid()) not in workers  # the server's workers ran them, not this test

