"""Revenue attribution by first-touch bucket, from signed goal events only, over whole days
of event time: the attribution rollup (``DailyAttribution``) plus the goals received since
the aggregation cursor (the tail), so figures are exact up to now.

docs/api.md ("Revenue attribution") defines each figure: the lag's median and p90, read from
the merged DDSketch (``lag_sketch``) within 1 %, and its histogram, counted exactly.
"""
from __future__ import annotations

from typing import Any

from conversions.core import money
from conversions.core.periods import DAY_MS, ceil, floor, iso
from conversions.rollups import aggregation, attribution_rollup, figures, lag_sketch
from conversions.rollups.attribution_rollup import BUCKETS, LAG_BINS_DAYS, Totals
from conversions.store.database import database
from conversions.store.models import DailyAttribution, Event


def days_covering(start_ms: int, end_ms: int) -> tuple[int, int]:
    """``[start_ms, end_ms)`` widened to whole UTC days."""
    return floor(start_ms, "day"), ceil(end_ms, "day")


def _totals(tenant_id: str, start_ms: int, end_ms: int) -> dict[tuple[str, str], Totals]:
    """Totals by bucket and currency of the signed goals in the days ``[start_ms, end_ms)``."""
    totals: dict[tuple[str, str], Totals] = {}

    def add(bucket: str, currency: str, part: Totals) -> None:
        if (bucket, currency) in totals:
            totals[(bucket, currency)].merge(part)
        else:
            totals[(bucket, currency)] = part

    rollup = DailyAttribution
    with figures.snapshot():
        cursor = aggregation.cursor_ms()
        stored = (rollup.select(rollup.bucket, rollup.currency, *attribution_rollup.ROW_FIELDS)
                  .where(rollup.tenant == tenant_id, rollup.day_start_ms >= start_ms,
                         rollup.day_start_ms < end_ms))
        for bucket, currency, *fields in database.execute(stored).fetchall():
            add(bucket, currency, attribution_rollup.from_row(*fields))
        tail = (Event.select(*attribution_rollup.EVENT_FIELDS)
                .where(Event.tenant == tenant_id, attribution_rollup.COUNTED,
                       Event.received_at_ms >= cursor, *figures.in_event_time(start_ms, end_ms))
                .tuples())
        for (_, bucket, currency), part in attribution_rollup.from_events(tail).items():
            add(bucket, currency, part)
    return totals


def report(tenant_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Figures for the tenant's signed goals that occurred in the whole days covering
    ``[start_ms, end_ms)``; ``from`` and ``to`` say which."""
    start_ms, end_ms = days_covering(start_ms, end_ms)
    totals = _totals(tenant_id, start_ms, end_ms)
    by_bucket = {name: Totals() for name in BUCKETS}
    revenue: dict[str, dict[str, int]] = {name: {} for name in BUCKETS}
    for (bucket, currency), part in sorted(totals.items()):
        by_bucket[bucket].merge(part)
        if part.revenue_hundredths is not None:
            code = currency or money.NO_CURRENCY
            revenue[bucket][code] = revenue[bucket].get(code, 0) + part.revenue_hundredths
    # Each bucket's lags first: their sketches, summed once, are what ``every`` merges.
    lags = {name: lag_summary(by_bucket[name]) for name in BUCKETS}
    every = Totals()
    for name in BUCKETS:
        every.merge(by_bucket[name])
    return {
        "tenant_id": tenant_id,
        "from": iso(start_ms),
        "to": iso(end_ms),
        "events": every.goals,
        "buckets": {name: {"events": by_bucket[name].goals,
                           "revenue": {code: money.text(cents)
                                       for code, cents in sorted(revenue[name].items())},
                           "lag": lags[name]}
                    for name in BUCKETS},
        "lag": lag_summary(every),
    }


def days(milliseconds: float) -> float:
    return round(milliseconds / DAY_MS, 2)


def lag_summary(totals: Totals) -> dict[str, Any]:
    """Count, median and p90 (days, within the sketch's relative accuracy) and the exact
    fixed-bin histogram of the lags of ``totals``."""
    sketch = totals.lags()
    counted = int(sketch.count)
    return {
        "count": counted,
        "median_days": days(lag_sketch.median(sketch)) if counted else None,
        "p90_days": days(lag_sketch.nearest_rank(sketch, 90)) if counted else None,
        "relative_accuracy": lag_sketch.RELATIVE_ACCURACY,
        "histogram": [{"from_days": low, "to_days": high, "count": count}
                      for (low, high), count in zip(LAG_BINS_DAYS, totals.histogram,
                                                    strict=True)],
    }
