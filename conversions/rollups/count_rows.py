"""The count rollup's rows: events and value by hour of event time, source, name and currency
(``HourlyAggregate``), with their sums by day (``DailyAggregate``), added from a batch of
received events or recomputed for touched hours from the raw events."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.rollups.touched import Run, Touched, Write, day_runs, kept_runs
from conversions.store import rollups
from conversions.store.models import DailyAggregate, HourlyAggregate


class Key(NamedTuple):
    """A row's key: tenant, period start, source, name and currency ("": none). A named
    tuple, not a frozen dataclass: a key is made and looked up for every group a batch
    reads, 0.4 against 1.3 us."""

    tenant: str
    start_ms: int
    source_type: str
    event_name: str
    currency: str


@dataclass
class Count:
    events: int = 0
    value_hundredths: int = 0
    superseded: int = 0


def holds(source_type: str, signed: bool) -> bool:
    """Every event counts."""
    return True


def _counts(groups: Iterable[rollups.HourGroup], size_ms: int) -> dict[Key, Count]:
    """The counts of periods ``size_ms`` long, from ``store.rollups.hour_groups``' tuples."""
    counts: dict[Key, Count] = {}
    for tenant_id, hour, source, name, currency, events, value, superseded in groups:
        key = Key(tenant_id, int(hour) * HOUR_MS // size_ms * size_ms, source, name,
                  currency or "")
        count = counts.setdefault(key, Count())
        count.events += int(events)
        count.value_hundredths += int(value)
        count.superseded += int(superseded)
    return counts


def _rows(counts: dict[Key, Count], period: str) -> list[dict[str, Any]]:
    """The rows of ``counts``, their period start in column ``period``."""
    return [{"tenant": key.tenant, period: key.start_ms, "source_type": key.source_type,
             "event_name": key.event_name, "currency": key.currency, "events": count.events,
             "value_hundredths": count.value_hundredths, "superseded": count.superseded}
            for key, count in counts.items()]


def added(start_ms: int, end_ms: int, horizon_ms: int | None) -> Write:
    """The counts of the events received in ``[start_ms, end_ms)`` (but those of periods
    before the horizon, a day's start), to add to the stored rows."""
    lowest = horizon_ms or 0
    groups = [group for group in rollups.received_hour_groups(start_ms, end_ms)
              if group[1] * HOUR_MS >= lowest]
    hours = _rows(_counts(groups, HOUR_MS), "hour_start_ms")
    days = _rows(_counts(groups, DAY_MS), "day_start_ms")

    def apply() -> None:
        rollups.add_counts(HourlyAggregate, hours)
        rollups.add_counts(DailyAggregate, days)

    return Write(len(hours), apply)


def recomputed(hours: Touched, received_before: int, horizon_ms: int | None) -> Write:
    """The rows of the touched hours (and of the days holding them) from the events received
    before ``received_before``, to replace the stored ones."""
    runs: list[tuple[Run, list[dict[str, Any]]]] = [
        (run, _rows(_counts(rollups.hour_groups(run.tenant, run.first, run.last,
                                                received_before), HOUR_MS), "hour_start_ms"))
        for run in kept_runs(hours, HOUR_MS, horizon_ms)]

    def apply() -> None:
        for run, rows in runs:
            rollups.replace(HourlyAggregate, run.tenant, run.first, run.last, rows)
        for days in day_runs(run for run, _ in runs):
            rollups.sum_days(days.tenant, days.first, days.last)

    return Write(sum(len(rows) for _, rows in runs), apply)
