"""The attribution rollup's definition: which events count (signed goals only), their
first-touch bucket, the lag bins, and the totals of a group of goals, built from events and
from stored ``DailyAttribution`` rows alike, so the job and the tail agree by construction."""
from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.pb import ddsketch_pb2

from conversions.core.periods import DAY_MS
from conversions.rollups import lag_sketch
from conversions.store import rollups
from conversions.store.models import DailyAttribution

BUCKETS = ("ai_search", "unattributed")
LAG_BINS_DAYS: tuple[tuple[int, int | None], ...] = (
    (0, 1), (1, 7), (7, 14), (14, 30), (30, 60), (60, 90), (90, 180), (180, None),
)
# Which events count (signed goals) and what a goal contributes, in ``from_events``' order.
COUNTED = rollups.COUNTED
EVENT_FIELDS = rollups.GOAL_FIELDS

# (period start ms, bucket, currency ("": none))
Key = tuple[int, str, str]


def counts(source_type: str, signed: bool) -> bool:
    """Whether an event counts in attribution: ``COUNTED``, in Python."""
    return source_type == "goal" and bool(signed)


def bucket_of(first_touch_bucket: str | None) -> str:
    """Only ``ai_search`` is honored; any other or no bucket is not attributed."""
    return "ai_search" if first_touch_bucket == "ai_search" else "unattributed"


# The bins' upper edges (ms), the last bin's open.
_EDGES_MS = [high * DAY_MS for _, high in LAG_BINS_DAYS if high is not None]


def bin_of(lag_ms: int) -> int:
    """The ``LAG_BINS_DAYS`` bin holding ``lag_ms``: ``[low, high)`` days, the last open."""
    return bisect.bisect_right(_EDGES_MS, lag_ms)


@dataclass
class Totals:
    """Goals, revenue (None: no value), lag histogram and lags of a group of goals: the lags
    added one by one counted by sketch bin key in ``keys``, the sketches of stored rows
    kept parsed in ``stored``, so a group's sketch is built once, when read, bin slices at a
    time."""

    goals: int = 0
    revenue_hundredths: int | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * len(LAG_BINS_DAYS))
    keys: dict[int | None, int] = field(default_factory=dict)
    stored: list[ddsketch_pb2.DDSketch] = field(default_factory=list)

    def add_goal(self, value_hundredths: int | None, lag_ms: int | None) -> None:
        self.goals += 1
        if value_hundredths is not None:
            self.revenue_hundredths = (self.revenue_hundredths or 0) + value_hundredths
        if lag_ms is not None:
            lag = max(lag_ms, 0)  # a first touch a little after the goal (clock skew): 0
            self.histogram[bin_of(lag)] += 1
            key = lag_sketch.key(lag)
            self.keys[key] = self.keys.get(key, 0) + 1

    def merge(self, other: Totals) -> None:
        self.goals += other.goals
        if other.revenue_hundredths is not None:
            self.revenue_hundredths = (self.revenue_hundredths or 0) + other.revenue_hundredths
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        for key, count in other.keys.items():
            self.keys[key] = self.keys.get(key, 0) + count
        self.stored += other.stored

    def lags(self) -> BaseDDSketch:
        """Every lag of the group, in one sketch, then kept as one, so a larger group
        merging this one sums its bins once."""
        sketch = lag_sketch.merged(self.stored, self.keys)
        if len(self.stored) + bool(self.keys) > 1:
            self.stored, self.keys = [lag_sketch.proto(sketch)], {}
        return sketch


def from_events(goals: Iterable[tuple[int, str | None, str | None, int | None, int | None]],
                period_ms: int = DAY_MS) -> dict[Key, Totals]:
    """Totals by period (a day, or ``period_ms``), bucket and currency of goals given as
    ``EVENT_FIELDS`` tuples."""
    groups: dict[Key, Totals] = {}
    for occurred, bucket, currency, value, first_touch in goals:
        key = (occurred - occurred % period_ms, bucket_of(bucket), currency or "")
        totals = groups.get(key)
        if totals is None:
            totals = groups[key] = Totals()
        totals.add_goal(value, None if first_touch is None else occurred - first_touch)
    return groups


def row(tenant_id: str, key: Key, totals: Totals, period: str = "day_start_ms"
        ) -> dict[str, Any]:
    """The ``DailyAttribution`` row of ``totals`` (``HourlyAttribution``'s with ``period``
    ``hour_start_ms``)."""
    period_start_ms, bucket, currency = key
    lags = totals.lags()
    return {"tenant": tenant_id, period: period_start_ms, "bucket": bucket,
            "currency": currency, "goals": totals.goals,
            "revenue_hundredths": totals.revenue_hundredths,
            "lag_histogram": json.dumps(totals.histogram),
            "lag_sketch": lag_sketch.dump(lags) if lags.count else None}


# A stored row's fields ``from_row`` takes, in its order (``HourlyAttribution``'s alike).
ROW_FIELDS = (DailyAttribution.goals, DailyAttribution.revenue_hundredths,
              DailyAttribution.lag_histogram, DailyAttribution.lag_sketch)


def from_row(goals: int, revenue_hundredths: int | None, lag_histogram: str,
             sketch: bytes | None) -> Totals:
    """The totals a stored row holds (its ``ROW_FIELDS``)."""
    return Totals(int(goals), revenue_hundredths, json.loads(lag_histogram),
                  stored=[lag_sketch.parse(bytes(sketch))] if sketch else [])
