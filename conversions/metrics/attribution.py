"""Revenue attribution by first-touch bucket, from signed goal events only.

Used by ``GET /api/conversions/attribution`` and by anything else that shows the figures.
Unsigned browser hints (pixel events) and webhook events never count.

The discovery-to-revenue lag is the time from an honored first touch
(``Event.first_touch_at_ms``, set only when ``first_touch_ts`` was within 180 days and not in
the future) to the goal event, in days. Method:

- median: the middle lag, or the mean of the two middle lags when there is an even number;
- p90: nearest rank, the lag at position ``ceil(0.9 * n)`` of the lags sorted ascending;
- both are computed on exact milliseconds, then given in days rounded to two decimals;
- a negative lag (a first touch a little after the event, within the clock-skew allowance)
  counts as 0;
- the histogram counts lags in the fixed bins of ``LAG_BINS_DAYS``: ``[low, high)`` days,
  the last bin open-ended.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from peewee import fn

from conversions.core import money
from conversions.core.periods import DAY_MS
from conversions.store.models import Event

BUCKETS = ("ai_search", "unattributed")
LAG_BINS_DAYS: tuple[tuple[int, int | None], ...] = (
    (0, 1), (1, 7), (7, 14), (14, 30), (30, 60), (60, 90), (90, 180), (180, None),
)


def report(tenant_id: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Figures for the tenant's signed goals that occurred in ``[start_ms, end_ms)``."""
    signed_goals = (
        (Event.tenant == tenant_id) & (Event.source_type == "goal")
        & (Event.signed == True)  # noqa: E712  (a SQL comparison, not a Python one)
        & (Event.occurred_at_ms >= start_ms) & (Event.occurred_at_ms < end_ms)
    )
    rows = (Event.select(Event.first_touch_bucket, Event.currency, fn.COUNT(Event.id),
                         fn.SUM(Event.value_hundredths))
            .where(signed_goals).group_by(Event.first_touch_bucket, Event.currency).tuples())
    figures: dict[str, dict[str, Any]] = {
        name: {"events": 0, "revenue": {}, "lags": []} for name in BUCKETS
    }
    cents: dict[str, dict[str, int]] = {name: {} for name in BUCKETS}
    for sent_bucket, currency, count, total in rows:
        name = bucket_of(sent_bucket)
        figures[name]["events"] += int(count)
        if total is not None:
            key = currency or money.NO_CURRENCY
            cents[name][key] = cents[name].get(key, 0) + int(total)
    lags = (Event.select(Event.first_touch_bucket, Event.occurred_at_ms - Event.first_touch_at_ms)
            .where(signed_goals & Event.first_touch_at_ms.is_null(False)).tuples())
    for sent_bucket, lag_ms in lags:
        figures[bucket_of(sent_bucket)]["lags"].append(max(int(lag_ms), 0))
    buckets = {
        name: {
            "events": figures[name]["events"],
            "revenue": {code: money.text(cents[name][code]) for code in sorted(cents[name])},
            "lag": lag_summary(figures[name]["lags"]),
        }
        for name in BUCKETS
    }
    every_lag = [lag for name in BUCKETS for lag in figures[name]["lags"]]
    return {
        "tenant_id": tenant_id,
        "events": sum(figures[name]["events"] for name in BUCKETS),
        "buckets": buckets,
        "lag": lag_summary(every_lag),
    }


def bucket_of(first_touch_bucket: str | None) -> str:
    """Only ``ai_search`` is honored; any other or no bucket is not attributed."""
    return "ai_search" if first_touch_bucket == "ai_search" else "unattributed"


def days(milliseconds: float) -> float:
    return round(milliseconds / DAY_MS, 2)


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int:
    """The nearest-rank percentile of ascending values (the list must not be empty)."""
    return sorted_values[max(math.ceil(percent * len(sorted_values) / 100), 1) - 1]


def lag_summary(lags_ms: list[int]) -> dict[str, Any]:
    """Count, median, p90 (days) and the fixed-bin histogram of lags in milliseconds."""
    ordered = sorted(lags_ms)
    histogram = []
    for low, high in LAG_BINS_DAYS:
        count = sum(1 for lag in ordered
                    if lag >= low * DAY_MS and (high is None or lag < high * DAY_MS))
        histogram.append({"from_days": low, "to_days": high, "count": count})
    return {
        "count": len(ordered),
        "median_days": days(statistics.median(ordered)) if ordered else None,
        "p90_days": days(nearest_rank(ordered, 90)) if ordered else None,
        "histogram": histogram,
    }
