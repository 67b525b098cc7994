"""Two gunicorn instances on two loopback ports sharing PostgreSQL and Redis, as behind a load
balancer: requests spread over both, and every guarantee holds in total, not per instance."""
from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from itertools import cycle, pairwise
from urllib.parse import urlencode

import pytest
from conversions_client import SignedGoal, sign_goal

from tests import support
from tests.support import Server, http, until
from tests.webhook_senders import body_of, event, package_headers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LIMIT = 12
JOBS = ("aggregate", "staleness", "prune")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, redis_url):
    """Instances A and B (2 workers each), started together on one PostgreSQL and one Redis."""
    from app import create_app
    from conversions.store.database import connection
    from conversions.tenants import accounts, settings

    tmp = tmp_path_factory.mktemp("scale-out")
    url = os.environ["TEST_DATABASE_URL"]
    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text"})
    with connection():
        support.empty_database()
        created = {name: accounts.create(f"{name}.example.com", f"buyer-{name}")
                   for name in ("shop", "limited", "stats", "cross")}
        settings.put(created["limited"]["tenant_id"], "rate_limit", f"{LIMIT} per hour")
    env = {"DATABASE_URL": url, "RATELIMIT_STORAGE_URI": redis_url,
           # Counts of this run only, whatever else the shared Redis holds.
           "CONVERSIONS_RATELIMIT_KEY_PREFIX": f"scale-out-{uuid.uuid4().hex}",
           "CONVERSIONS_LOG_FORMAT": "text", "CONVERSIONS_AGGREGATE_SETTLE_SECONDS": "1"}
    for job in JOBS + ("flush",):  # every worker of both instances schedules every job
        env[f"CONVERSIONS_{job.upper()}_INTERVAL_SECONDS"] = "1"
    servers = [Server(env, workers=2, log_path=tmp / f"instance-{name}.log") for name in "ab"]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait(timeout=60)
        yield {"servers": servers, **created}
    finally:
        for server in servers:
            server.stop()


def pixel(server: Server, buyer: str, **fields: str) -> tuple[int, str]:
    query = {"buyer_id": buyer, "source_type": "pixel", "event_name": "purchase",
             "event_value": "1.25", "currency": "usd", **fields}
    status, headers, _ = http("GET", f"{server.url}/api/conversions/pixel?{urlencode(query)}")
    return status, headers.get("X-Conversions-Status", "")


def goal(server: Server, tenant: dict, signed: SignedGoal) -> tuple[int, dict]:
    status, _, answer = http("POST", f"{server.url}/api/v1/track/pixel/goal?"
                             f"domain={tenant['domain']}", signed.body, signed.headers)
    return status, json.loads(answer)


def webhook(server: Server, tenant: dict, headers: dict, body: bytes) -> tuple[int, dict]:
    status, _, answer = http("POST", f"{server.url}/api/conversions/webhook?"
                             f"buyer_id={tenant['buyer_id']}", body, headers)
    return status, json.loads(answer)


def at_once(calls: list[Callable[[], object]]) -> list:
    """Run the calls in threads released together, to race them against each other."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def stored(tenant: dict, **where: object) -> int:
    from conversions.store.database import connection
    from conversions.store.models import Event

    with connection():
        query = Event.select().where(Event.tenant == tenant["tenant_id"])
        for name, value in where.items():
            query = query.where(getattr(Event, name) == value)
        return query.count()


def served_pixels(server: Server) -> int:
    assert server.log_path is not None
    return server.log_path.read_text().count('"GET /api/conversions/pixel HTTP')


def test_requests_spread_over_both_instances_and_each_is_stored(deployment):
    servers = deployment["servers"]
    before = [served_pixels(server) for server in servers]
    answers = [pixel(server, "buyer-shop", event_id=f"spread-{index}")
               for index, server in zip(range(20), cycle(servers), strict=False)]
    assert answers == [(200, "accepted")] * 20
    # Each instance's access log names the ten it served (written after the answer).
    until(lambda: [served_pixels(s) - b for s, b in zip(servers, before, strict=True)]
          == [10, 10], interval=0.1)
    assert stored(deployment["shop"], source_type="pixel") >= 20


def test_the_rate_limit_is_exact_in_total_across_instances(deployment):
    servers = deployment["servers"]
    calls = [partial(pixel, server, "buyer-limited", event_id=f"limited-{index}")
             for index, server in zip(range(3 * LIMIT), cycle(servers), strict=False)]
    answers = at_once(calls)
    assert sorted(answers).count((200, "accepted")) == LIMIT, answers
    assert sorted(answers).count((429, "rejected")) == 2 * LIMIT, answers
    assert stored(deployment["limited"]) == LIMIT


def test_the_same_event_id_sent_to_both_at_once_is_stored_once(deployment):
    a, b = deployment["servers"]
    for index in range(5):
        key = f"twice-{uuid.uuid4().hex}"
        answers = at_once([partial(pixel, server, "buyer-shop", event_id=key)
                           for server in (a, b)])
        assert sorted(answers) == [(200, "accepted"), (200, "duplicate")], (index, answers)
        assert stored(deployment["shop"], dedup_key=f"id:{key}") == 1


def test_a_signed_goal_replayed_to_both_at_once_is_stored_once(deployment):
    a, b = deployment["servers"]
    shop = deployment["shop"]
    for index in range(5):
        session = f"replay-{uuid.uuid4().hex}"
        signed = sign_goal(shop["tenant_id"], shop["pixel_secret"], "purchase", session,
                           value=9.5, currency="EUR")
        answers = at_once([partial(goal, server, shop, signed) for server in (a, b)])
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200, 202], (index, answers)
        assert len({answer["event_id"] for _, answer in answers}) == 1
        assert stored(shop, session_id=session) == 1


def test_a_webhook_id_replayed_to_both_at_once_is_stored_once(deployment):
    a, b = deployment["servers"]
    shop = deployment["shop"]
    for index in range(5):
        name = f"hook-{uuid.uuid4().hex[:12]}"
        body = body_of({"events": [event(n, event_id=None, event_name=name) for n in range(3)]})
        headers = package_headers(shop["webhook_secret"], body)
        answers = at_once([partial(webhook, server, shop, headers, body)
                           for server in (a, b)])
        assert sorted(status for status, _ in answers) == [200, 202], (index, answers)
        assert stored(shop, event_name=name) == 3


def test_a_pixel_and_a_webhook_for_one_id_at_once_on_two_instances_count_once(deployment):
    """Each round the pixel goes to one instance and the server's webhook, with the same
    ``event_id``, to the other, released together: every conversion counts once, the
    webhook's, and coverage saw each on both channels."""
    from conversions.rollups import figures
    from conversions.store.database import connection

    servers = deployment["servers"]
    tenant = deployment["cross"]
    rounds = 20
    started_ms = int(time.time() * 1000)
    for index in range(rounds):
        key = f"cross-{index}"
        body = body_of({"events": [event(index, event_id=key, event_value="10.00")]})
        browser, server = servers if index % 2 else servers[::-1]
        answers = at_once([
            partial(pixel, browser, tenant["buyer_id"], event_id=key),
            partial(webhook, server, tenant, package_headers(tenant["webhook_secret"], body),
                    body)])
        assert answers[0] == (200, "accepted"), (index, answers)
        assert answers[1][0] == 202, (index, answers)
    status, _, answer = http("GET", f"{servers[0].url}/api/conversions/coverage?"
                             f"tenant_id={tenant['tenant_id']}")
    assert status == 200, answer
    total = json.loads(answer)["total"]
    assert {name: total[name] for name in ("server", "browser", "both", "value_mismatches")} \
        == {"server": rounds, "browser": rounds, "both": rounds, "value_mismatches": rounds}
    with connection():
        buckets = figures.by_period(tenant["tenant_id"], started_ms - 2 * 86_400_000,
                                    started_ms + 86_400_000, "day", by_name=False)
    counted: dict[str, list[int]] = {}
    for key, (events, value, superseded) in buckets.items():
        sums = counted.setdefault(key[1], [0, 0, 0])
        for position, number in enumerate((events, value, superseded)):
            sums[position] += number
    assert counted == {"pixel": [0, 0, rounds], "webhook": [rounds, 1000 * rounds, 0]}


def test_each_job_ran_once_per_interval_across_both_instances(deployment):
    from conversions.store.database import connection
    from conversions.store.models import JobRun

    def finished() -> list[JobRun]:
        with connection():
            return list(JobRun.select().where(JobRun.finished_at_ms.is_null(False))
                        .order_by(JobRun.started_at_ms, JobRun.id))

    until(lambda: all(sum(r.job == job for r in finished()) >= 3 for job in JOBS),
          timeout=30, interval=0.1)
    runs = finished()
    pids = {pid for server in deployment["servers"]
            for pid in re.findall(r"Booting worker with pid: (\d+)", server.log_path.read_text())}
    assert len(pids) == 4
    assert {run.holder.rsplit(":", 1)[1] for run in runs} <= pids
    for job in JOBS:
        mine = [run for run in runs if run.job == job]
        slots = [run.started_at_ms // 1000 for run in mine]
        assert len(set(slots)) == len(slots), f"{job} ran twice in one interval"
        assert all(run.error is None for run in mine), (job, [run.error for run in mine])
        for before, after in pairwise(mine):
            assert after.started_at_ms >= before.finished_at_ms, f"{job} runs overlapped"


def totals(answer: dict) -> tuple[dict, dict]:
    events: Counter[str] = Counter()
    values: Counter[str] = Counter()
    for row in answer["series"]:
        events[row["source_type"]] += row["events"]
        for currency, amount in row["value"].items():
            values[currency] += Decimal(amount)
    return dict(events), dict(values)


def test_stats_from_either_instance_equal_what_was_ingested(deployment):
    servers = deployment["servers"]
    tenant = deployment["stats"]
    for index, server in zip(range(10), cycle(servers), strict=False):
        assert pixel(server, tenant["buyer_id"], event_id=f"stats-{index}",
                     event_value="2.50") == (200, "accepted")
    for index, server in zip(range(4), cycle(servers), strict=False):
        body = body_of({"events": [event(n, event_id=f"batch-{index}-{n}", event_value="10.00",
                                         currency="eur") for n in range(5)]})
        status, answer = webhook(server, tenant, package_headers(tenant["webhook_secret"], body),
                                 body)
        assert status == 202, answer
    for index, server in zip(range(6), cycle(servers), strict=False):
        signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], "purchase",
                           f"stats-{index}", value=1.1, currency="USD")
        assert goal(server, tenant, signed)[0] == 202
    # Every duplicate sent to the other instance changes nothing.
    assert pixel(servers[1], tenant["buyer_id"], event_id="stats-0") == (200, "duplicate")
    expected = ({"pixel": 10, "webhook": 20, "goal": 6},
                {"USD": Decimal("31.60"), "EUR": Decimal("200.00")})

    def stats(server: Server) -> tuple[dict, dict]:
        status, _, answer = http("GET", f"{server.url}/api/conversions/stats?"
                                 f"tenant_id={tenant['tenant_id']}")
        assert status == 200, answer
        return totals(json.loads(answer))

    assert [stats(server) for server in servers] == [expected, expected]

    def aggregated() -> bool:
        from conversions.rollups import aggregation
        from conversions.store.database import connection
        from conversions.store.models import Event

        with connection():
            last = Event.select(Event.received_at_ms).order_by(Event.id.desc()).scalar()
            return aggregation.cursor_ms() > last

    until(aggregated, timeout=30, interval=0.1)  # now from the aggregates, not the raw tail
    assert [stats(server) for server in servers] == [expected, expected]
