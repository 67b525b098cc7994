"""On random histories, every figure read from the rollups (plus the tail) equals a brute-force
recomputation from the raw events: across hour and day boundaries, with late and clock-skewed
events, aggregation in small batches at random moments, events stored behind the cursor (a
dead-letter replay), and after a prune of raw events. Percentiles within the sketch's 1 %."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conversions.core import money
from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.rollups import aggregation, attribution, figures
from conversions.rollups.attribution_rollup import LAG_BINS_DAYS, bin_of, bucket_of, from_events
from conversions.store import retention
from conversions.store.database import connection, database
from conversions.store.models import (
    DailyAggregate,
    DailyAttribution,
    Event,
    HourlyAggregate,
    HourlyAttribution,
    JobCursor,
    RollupRefresh,
)

BASE = 1_795_132_800_000  # 2026-11-20T00:00:00Z
SPAN_DAYS = 4
# An hour's edges, its middle, or any millisecond: the boundaries are where rollups go wrong.
IN_HOUR = st.sampled_from([0, 1, HOUR_MS // 2, HOUR_MS - 1]) | st.integers(0, HOUR_MS - 1)
DELAY = (st.sampled_from([0, 1, -300_000])  # at once, or sent by a clock 5 minutes ahead
         | st.integers(0, HOUR_MS) | st.integers(0, 3 * DAY_MS))  # late, up to days


@st.composite
def events(draw, first_day: int = 0):
    # A few hours often (so events share periods across batches), any hour sometimes.
    first = first_day * 24
    hour = draw(st.sampled_from([first, first + 1, first + 23, min(first + 24, SPAN_DAYS * 24 - 1)])
                | st.integers(first, SPAN_DAYS * 24 - 1))
    occurred = BASE + hour * HOUR_MS + draw(IN_HOUR)
    source_type, signed = draw(st.sampled_from([("goal", True), ("goal", True), ("goal", False),
                                                ("pixel", False), ("webhook", True),
                                                ("postback", False)]))
    value = draw(st.none() | st.integers(0, 10**6))
    lag = draw(st.none() | st.sampled_from([0, -60_000, DAY_MS - 1, DAY_MS])
               | st.integers(0, 200 * DAY_MS))
    return {"source_type": source_type, "signed": signed,
            "event_name": draw(st.sampled_from(["purchase", "signup"])),
            "value_hundredths": value,
            "currency": draw(st.sampled_from([None, "USD", "EUR"])) if value is not None
            else draw(st.sampled_from([None, "USD"])),
            "first_touch_bucket": draw(st.sampled_from([None, "ai_search", "search"])),
            "first_touch_at_ms": None if lag is None else occurred - lag,
            "occurred_at_ms": occurred,
            "received_at_ms": max(occurred + draw(DELAY), 0)}


@st.composite
def histories(draw):
    history = draw(st.lists(events(), max_size=40))
    replayed = draw(st.lists(events(), max_size=5))
    # Events approved later (a postback): (index in the history, new value), moved to the tail.
    approved = draw(st.lists(st.tuples(st.integers(0, 39), st.none() | st.integers(0, 10**6)),
                             max_size=3, unique_by=lambda pair: pair[0]))
    runs = draw(st.lists(st.integers(0, (SPAN_DAYS + 3) * DAY_MS), max_size=4))
    prune_day = draw(st.none() | st.integers(1, SPAN_DAYS - 1))
    later = draw(st.lists(events(first_day=prune_day or 0), max_size=10))
    later_run = draw(st.none() | st.integers(0, 4 * DAY_MS))
    batch = draw(st.integers(1, 7))
    return (history, replayed, approved, sorted(BASE + ms for ms in runs), prune_day, later,
            later_run, batch)


def brute_periods(rows: list[dict], size_ms: int) -> dict:
    buckets: dict = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        key = (row["occurred_at_ms"] - row["occurred_at_ms"] % size_ms, row["source_type"],
               row["event_name"], row["currency"] or "")
        buckets[key][0] += 1
        buckets[key][1] += row["value_hundredths"] or 0
    return dict(buckets)


def exact_lag(lags: list[int]) -> tuple[int, float | None, float | None, list[int]]:
    ordered = sorted(lags)
    histogram = [0] * len(LAG_BINS_DAYS)
    for lag in ordered:
        histogram[bin_of(lag)] += 1
    if not ordered:
        return 0, None, None, histogram
    p90 = ordered[max(math.ceil(0.9 * len(ordered)), 1) - 1]
    return len(ordered), statistics.median(ordered), p90, histogram


def assert_lag(got: dict, lags: list[int]) -> None:
    count, median, p90, histogram = exact_lag(lags)
    assert got["count"] == count
    assert [b["count"] for b in got["histogram"]] == histogram
    for name, exact in (("median_days", median), ("p90_days", p90)):
        if exact is None:
            assert got[name] is None
        else:  # the sketch's 1 %, and the rounding to hundredths of a day
            exact_days = exact / DAY_MS
            assert abs(got[name] - exact_days) <= 0.01 * exact_days + 0.005 + 1e-9, name


def assert_attribution(got: dict, rows: list[dict], start_ms: int, end_ms: int) -> None:
    goals = [r for r in rows if r["source_type"] == "goal" and r["signed"]
             and start_ms <= r["occurred_at_ms"] < end_ms]
    assert got["events"] == len(goals)
    every_lag = []
    for name, bucket in got["buckets"].items():
        mine = [r for r in goals if bucket_of(r["first_touch_bucket"]) == name]
        assert bucket["events"] == len(mine)
        revenue: dict[str, int] = defaultdict(int)
        for row in mine:
            if row["value_hundredths"] is not None:
                revenue[row["currency"] or money.NO_CURRENCY] += row["value_hundredths"]
        assert bucket["revenue"] == {code: money.text(cents)
                                     for code, cents in sorted(revenue.items())}
        lags = [max(r["occurred_at_ms"] - r["first_touch_at_ms"], 0) for r in mine
                if r["first_touch_at_ms"] is not None]
        assert_lag(bucket["lag"], lags)
        every_lag += lags
    assert_lag(got["lag"], every_lag)


def store(tenant_id: str, rows: list[dict], offset: int) -> None:
    Event.insert_many([{**row, "tenant": tenant_id, "dedup_key": f"id:{offset + n}"}
                       for n, row in enumerate(rows)]).execute()


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories(), day_range=st.tuples(st.integers(-1, SPAN_DAYS),
                                                st.integers(1, SPAN_DAYS + 1)))
def test_every_figure_equals_a_recomputation_from_raw_events(app, tenant, monkeypatch, history,
                                                             day_range):
    note(f"history {history!r}, days {day_range!r}")
    rows, replayed, approved, runs, prune_day, later, later_run, batch = history
    monkeypatch.setattr(aggregation, "BATCH_EVENTS", batch)
    tenant_id = tenant["tenant_id"]
    with app.app_context(), connection():
        for model in (Event, HourlyAggregate, DailyAggregate, HourlyAttribution,
                      DailyAttribution, RollupRefresh, JobCursor):
            model.delete().execute()
        store(tenant_id, rows, 0)
        for at_ms in runs:
            aggregation.aggregate(at_ms)
        # Stored behind the cursor with their periods marked, as a dead-letter replay does.
        store(tenant_id, replayed, 1000)
        aggregation.request_refresh(tenant_id, [r["occurred_at_ms"] for r in replayed])
        aggregation.aggregate(runs[-1] if runs else 0)  # the next run recomputes their periods
        for n, (index, value) in enumerate(approved):
            if index >= len(rows):
                continue
            # As an approved postback is: a new value, received now, its periods recomputed.
            rows[index] = {**rows[index], "value_hundredths": value,
                           "received_at_ms": aggregation.cursor_ms() + n}
            with database.atomic():
                Event.update(value_hundredths=value,
                             received_at_ms=rows[index]["received_at_ms"]).where(
                    Event.dedup_key == f"id:{index}").execute()
                aggregation.refresh_event(tenant_id, rows[index]["occurred_at_ms"],
                                          rows[index]["source_type"], rows[index]["signed"])
        if prune_day is not None:
            # Every event aggregated first: the service prunes only events behind the cursor,
            # and accepts none as old as the prune horizon (config.checks.retention_error).
            aggregation.aggregate(BASE + (SPAN_DAYS + 4) * DAY_MS)
            retention.prune_events(BASE + prune_day * DAY_MS, aggregation.cursor_ms())
            assert not Event.select().where(Event.occurred_at_ms < BASE + prune_day * DAY_MS,
                                            Event.tenant == tenant_id).exists()
        # Received after the cursor, as every live event is (possibly long after it occurred).
        cursor = aggregation.cursor_ms()
        later = [{**r, "received_at_ms": cursor + n + max(r["received_at_ms"]
                                                          - r["occurred_at_ms"], 0)}
                 for n, r in enumerate(later)]
        store(tenant_id, later, 2000)
        if later_run is not None:
            aggregation.aggregate(cursor + later_run)
        every = rows + replayed + later

        span = (BASE - DAY_MS, BASE + (SPAN_DAYS + 1) * DAY_MS)
        for granularity, size in (("hour", HOUR_MS), ("day", DAY_MS)):
            assert figures.by_period(tenant_id, *span, granularity) == brute_periods(every, size)
        assert figures.by_period(tenant_id, *span, "hour", "goal") == brute_periods(
            [r for r in every if r["source_type"] == "goal"], HOUR_MS)
        first, last = sorted(day_range)
        for start_ms, end_ms in (span, (BASE + first * DAY_MS, BASE + (last + 1) * DAY_MS)):
            got = attribution.report(tenant_id, start_ms, end_ms)
            assert_attribution(got, every, start_ms, end_ms)


@pytest.mark.parametrize("lags_days", [[0.5] * 3 + [100] * 3, [1, 2, 3, 4], [179.99]])
def test_the_sketch_keeps_each_percentile_within_one_percent(lags_days):
    lags = [int(d * DAY_MS) for d in lags_days]
    rows = [{"source_type": "goal", "signed": True, "first_touch_bucket": "ai_search",
             "first_touch_at_ms": BASE - lag, "occurred_at_ms": BASE, "value_hundredths": None,
             "currency": None} for lag in lags]
    totals = from_events([(r["occurred_at_ms"], r["first_touch_bucket"], r["currency"],
                           r["value_hundredths"], r["first_touch_at_ms"]) for r in rows])
    assert_lag(attribution.lag_summary(next(iter(totals.values()))), lags)
