"""``GET /api/conversions/attribution``: figures from signed goals, computed by hand."""
from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from conversions.core import clock, rules
from conversions.rollups.attribution import lag_summary
from conversions.rollups.attribution_rollup import Totals
from conversions.store.database import connection
from conversions.store.models import Event
from conversions.tenants import accounts
from tests.support import post_goal

URL = "/api/conversions/attribution"
NOW = "2026-11-20T12:00:00Z"
LATER = "2026-11-20T12:01:00Z"
DAY_MS = 86_400_000


@pytest.fixture
def at(app, frozen_clock):
    """Set the service's clock to an ISO-8601 instant."""

    def move(instant: str) -> None:
        frozen_clock.now = rules.parse_instant(instant).timestamp()

    return move


@pytest.fixture
def send_goal(send_goal):
    """Goals of the test tenant that must be accepted."""
    return partial(send_goal, expect=202)


def days_before(instant: str, days: float) -> str:
    moment = rules.parse_instant(instant) - timedelta(days=days)
    return moment.isoformat().replace("+00:00", "Z")


def insert_row(tenant_id: str, source_type: str, signed: bool, at_ms: int, **fields) -> None:
    """An event as another source stores it (bypassing the goal endpoint on purpose)."""
    row = {"tenant": tenant_id, "source_type": source_type, "signed": signed,
           "event_name": "purchase", "occurred_at_ms": at_ms, "received_at_ms": at_ms,
           "dedup_key": f"id:{source_type}-{at_ms}", **fields}
    with connection():
        Event.create(**row)


def lag(count: int, median: float | None, p90: float | None, *counts: int) -> dict:
    """A lag summary as the answer gives it: median and p90 within the sketch's 1 % (and
    the rounding to hundredths of a day), the histogram exact."""
    def near(days):
        return None if days is None else pytest.approx(days, rel=0.01, abs=0.005)

    return {"count": count, "median_days": near(median), "p90_days": near(p90),
            "relative_accuracy": 0.01, "histogram": histogram(*counts)}


def histogram(*counts: int) -> list[dict]:
    bins = [(0, 1), (1, 7), (7, 14), (14, 30), (30, 60), (60, 90), (90, 180), (180, None)]
    return [{"from_days": low, "to_days": high, "count": count}
            for (low, high), count in zip(bins, counts, strict=True)]


def test_figures_equal_the_hand_computed_ones(client, tenant, at, send_goal):
    at("2026-11-01T00:00:00Z")  # exactly ?from=: included
    send_goal(session="k", value=1, currency="USD", first_touch_bucket="ai_search")
    at(NOW)
    send_goal(session="a", value=12.5, currency="USD", first_touch_bucket="ai_search",
              first_touch_ts="2026-11-17T12:00:00Z")                 # lag 3 days
    send_goal(session="b", value=100, currency="USD", first_touch_bucket="ai_search",
              first_touch_ts="2026-11-10T00:00:00Z")                 # lag 10.5 days
    send_goal(session="c", value=0.1, currency="usd", first_touch_bucket="ai_search",
              first_touch_ts="2026-11-20T06:00:00+00:00")            # lag 0.25 days
    send_goal(session="d", value=0.2, currency="USD", first_touch_bucket="ai_search",
              first_touch_ts=days_before(NOW, 181))                  # too old: no lag
    send_goal(session="e", value=5, currency="EUR", first_touch_bucket="ai_search",
              first_touch_ts="2026-11-21T12:00:00Z")                 # future: no lag
    send_goal(session="f", first_touch_bucket="ai_search",
              first_touch_ts="2026-06-01T12:00:00Z")                 # lag 172 days, no value
    send_goal(session="g", value=20, currency="USD", first_touch_bucket="search",
              first_touch_ts="2026-11-19T12:00:00Z")                 # lag 1 day
    send_goal(session="h", value=7.25, currency="USD")
    send_goal(session="i", value=3.33)                                        # no currency
    send_goal(session="j", value=1, currency="EUR", first_touch_bucket="AI_SEARCH",
              first_touch_ts="2026-11-18T12:00:00Z")                 # lag 2 days, not ai_search
    now_ms = clock.now_ms()
    # Never counted: a browser hint, a webhook event, another tenant, outside the range.
    insert_row(tenant["tenant_id"], "pixel", False, now_ms, value_hundredths=99999,
               currency="USD", first_touch_bucket="ai_search", first_touch_at_ms=now_ms - DAY_MS)
    insert_row(tenant["tenant_id"], "webhook", True, now_ms, value_hundredths=50000,
               currency="USD", first_touch_bucket="ai_search")
    with connection():
        other = accounts.create("other.example.com", "buyer-2")
    post_goal(client, other, session="x", value=40, currency="USD", first_touch_bucket="ai_search",
              expect=202)
    at("2026-10-31T23:59:59Z")
    send_goal(session="early", value=50, currency="USD", first_touch_bucket="ai_search")
    at("2026-11-21T00:00:00Z")  # exactly ?to=: excluded
    send_goal(session="late", value=60, currency="USD", first_touch_bucket="ai_search")

    response = client.get(URL, query_string={
        "tenant_id": tenant["tenant_id"], "from": "2026-11-01T00:00:00Z", "to": "2026-11-21"})

    assert response.status_code == 200, response.json
    assert response.json == {
        "tenant_id": tenant["tenant_id"],
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-21T00:00:00Z",
        "events": 11,
        "buckets": {
            "ai_search": {
                "events": 7,  # k a b c d e f
                "revenue": {"EUR": "5.00", "USD": "113.80"},  # 1 + 12.5 + 100 + 0.1 + 0.2
                "lag": lag(4, 6.75, 172.0, 1, 1, 1, 0, 0, 0, 1, 0),  # .25 3 10.5 172
            },
            "unattributed": {
                "events": 4,  # g h i j
                "revenue": {"EUR": "1.00", "USD": "27.25", "XXX": "3.33"},
                "lag": lag(2, 1.5, 2.0, 0, 2, 0, 0, 0, 0, 0, 0),  # 1 2
            },
        },
        # .25 1 2 3 10.5 172: median (2 + 3) / 2, p90 the 6th of 6 (ceil(5.4))
        "lag": lag(6, 2.5, 172.0, 1, 3, 1, 0, 0, 0, 1, 0),
    }


def test_an_unsigned_pixel_hint_never_counts(client, tenant):
    now_ms = clock.now_ms()
    insert_row(tenant["tenant_id"], "pixel", False, now_ms - 1000, value_hundredths=1250,
               currency="USD", first_touch_bucket="ai_search",
               first_touch_at_ms=now_ms - 3 * DAY_MS)
    # Even a hint stored under the goal source type, if unsigned, is not revenue.
    insert_row(tenant["tenant_id"], "goal", False, now_ms - 1000, value_hundredths=1250,
               currency="USD", first_touch_bucket="ai_search")
    figures = client.get(URL, query_string={"tenant_id": tenant["tenant_id"]}).json
    assert figures["events"] == 0
    assert figures["buckets"]["ai_search"]["revenue"] == {}
    assert figures["lag"]["count"] == 0


@pytest.mark.parametrize(
    ("first_touch_ts", "lag_count"),
    [
        pytest.param(days_before(NOW, 181), 0, id="181-days-old"),
        pytest.param(days_before(NOW, 180.001), 0, id="just-over-180-days"),
        pytest.param("2026-11-21T12:00:00Z", 0, id="a-day-ahead"),
        pytest.param("2026-11-20T12:06:00Z", 0, id="beyond-clock-skew"),
        pytest.param(days_before(NOW, 179), 1, id="179-days-old-counts"),
        pytest.param("2026-11-20T11:00:00Z", 1, id="an-hour-ago-counts"),
    ],
)
def test_a_first_touch_too_old_or_in_the_future_leaves_the_lag_blank(
        client, tenant, at, send_goal, first_touch_ts, lag_count):
    at(NOW)
    send_goal(session="s", value=10, currency="USD", first_touch_bucket="ai_search",
              first_touch_ts=first_touch_ts)
    at(LATER)
    figures = client.get(URL, query_string={"tenant_id": tenant["tenant_id"]}).json
    ai = figures["buckets"]["ai_search"]
    assert (ai["events"], ai["revenue"]) == (1, {"USD": "10.00"})
    assert ai["lag"]["count"] == figures["lag"]["count"] == lag_count
    if not lag_count:
        assert ai["lag"]["median_days"] is None
        assert sum(b["count"] for b in ai["lag"]["histogram"]) == 0
    with connection():
        stored = Event.get(Event.tenant == tenant["tenant_id"])
    assert stored.first_touch_ts == first_touch_ts  # kept verbatim, honored or not


def test_default_range_is_the_30_days_ending_with_today(client, tenant, at, send_goal):
    at(days_before(NOW, 31))
    send_goal(session="old", value=1, currency="USD")
    at(days_before(NOW, 29))
    send_goal(session="recent", value=2, currency="USD")
    at(NOW)
    send_goal(session="now", value=4, currency="USD")
    figures = client.get(URL, query_string={"tenant_id": tenant["tenant_id"]}).json
    assert (figures["from"], figures["to"]) == ("2026-10-22T00:00:00Z", "2026-11-21T00:00:00Z")
    assert figures["buckets"]["unattributed"]["revenue"] == {"USD": "6.00"}


def test_a_range_is_widened_to_whole_days(client, tenant, at, send_goal):
    at("2026-11-19T01:00:00Z")
    send_goal(session="early-that-day", value=3, currency="USD")
    figures = client.get(URL, query_string={"tenant_id": tenant["tenant_id"],
                                            "from": "2026-11-19T12:00:00Z",
                                            "to": "2026-11-19T13:00:00Z"}).json
    assert (figures["from"], figures["to"]) == ("2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z")
    assert figures["events"] == 1


def summary(lags_ms: list[int]) -> dict:
    totals = Totals()
    for lag_ms in lags_ms:
        totals.add_goal(None, lag_ms)
    return lag_summary(totals)


def test_percentiles_follow_the_documented_method():
    ten = summary([day * DAY_MS for day in range(1, 11)])
    assert (ten["median_days"], ten["p90_days"]) == (pytest.approx(5.5, rel=0.01),
                                                     pytest.approx(9.0, rel=0.01))
    one = summary([DAY_MS // 3])
    assert (one["median_days"], one["p90_days"]) == (pytest.approx(0.33, abs=0.01),) * 2
    edges = summary([DAY_MS - 1, DAY_MS, 180 * DAY_MS])
    assert [b["count"] for b in edges["histogram"]] == [1, 1, 0, 0, 0, 0, 0, 1]
    assert summary([0, 0, 5])["median_days"] == 0  # lags of 0 are kept exactly


TENANT = "the tenant's id"


@pytest.mark.parametrize(
    ("query", "status", "error", "parameter"),
    [
        pytest.param({}, 400, "invalid_parameter", "tenant_id", id="no-tenant"),
        pytest.param({"tenant_id": "shop"}, 400, "invalid_parameter", "tenant_id", id="not-uuid"),
        pytest.param({"tenant_id": "00000000-0000-4000-8000-000000000000"}, 404,
                     "unknown_tenant", "tenant_id", id="unknown-tenant"),
        pytest.param({"tenant_id": TENANT, "from": "yesterday"}, 400, "invalid_parameter",
                     "from", id="bad-from"),
        pytest.param({"tenant_id": TENANT, "to": "2026-13-01"}, 400, "invalid_parameter",
                     "to", id="bad-to"),
        pytest.param({"tenant_id": TENANT, "to": "9" * 12}, 400, "invalid_parameter",
                     "to", id="to-out-of-range"),
        pytest.param({"tenant_id": TENANT, "to": "0001-01-02"}, 400, "invalid_parameter",
                     "to", id="to-before-1970"),
        pytest.param({"tenant_id": TENANT, "to": "\u0661" * 10}, 400, "invalid_parameter",
                     "to", id="to-in-non-ascii-digits"),
        pytest.param({"tenant_id": TENANT, "from": "2026-11-02", "to": "2026-11-01"}, 400,
                     "invalid_parameter", "from", id="from-after-to"),
    ],
)
def test_a_bad_parameter_is_named(client, tenant, query, status, error, parameter):
    query = {name: tenant["tenant_id"] if value == TENANT else value
             for name, value in query.items()}
    response = client.get(URL, query_string=query)
    assert response.status_code == status
    assert response.json["error"] == error
    assert response.json["parameter"] == parameter


def test_needs_admin_access(app, client, tenant):
    app.config["ADMIN_TOKEN"] = "t0ken"
    query = {"tenant_id": tenant["tenant_id"]}
    assert client.get(URL, query_string=query).status_code == 401
    answer = client.get(URL, query_string=query, headers={"Authorization": "Bearer t0ken"})
    assert answer.status_code == 200

