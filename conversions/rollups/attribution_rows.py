"""The attribution rollup's rows (``HourlyAttribution`` and ``DailyAttribution``: signed goals
by period, first-touch bucket and currency, ``attribution_rollup``), a batch of received
goals merged into the stored rows, or the rows of touched hours (and their days)
recomputed from the raw events."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.rollups import attribution_rollup
from conversions.rollups.attribution_rollup import Totals
from conversions.rollups.touched import Run, Touched, Write, day_runs, kept_runs
from conversions.store import rollups
from conversions.store.models import DailyAttribution, HourlyAttribution

holds = attribution_rollup.counts
_PERIOD = {HourlyAttribution: "hour_start_ms", DailyAttribution: "day_start_ms"}


class Key(NamedTuple):
    """A row's key: tenant, period start, bucket and currency ("": none); a named tuple,
    as ``count_rows.Key`` is."""

    tenant: str
    start_ms: int
    bucket: str
    currency: str

    def day(self) -> Key:
        """The key of the day holding this one's period."""
        return Key(self.tenant, self.start_ms - self.start_ms % DAY_MS, self.bucket,
                   self.currency)


def _rows(model: Any, totals: dict[Key, Totals]) -> list[dict[str, Any]]:
    return [attribution_rollup.row(key.tenant, (key.start_ms, key.bucket, key.currency),
                                   part, _PERIOD[model]) for key, part in totals.items()]


def _hour_totals(tenant_id: str, goals: Iterable[Any]) -> dict[Key, Totals]:
    """The tenant's totals by hour of ``goals`` (``attribution_rollup.EVENT_FIELDS``)."""
    return {Key(tenant_id, *key): part
            for key, part in attribution_rollup.from_events(goals, HOUR_MS).items()}


def _merged(model: Any, deltas: dict[Key, Totals]) -> list[dict[str, Any]]:
    """The rows of ``model`` holding ``deltas`` added to the stored ones: one query per
    tenant for the periods it touches."""
    by_tenant: dict[str, set[int]] = defaultdict(set)
    for key in deltas:
        by_tenant[key.tenant].add(key.start_ms)
    totals = dict(deltas)
    for tenant_id, starts in by_tenant.items():
        for start_ms, bucket, currency, *fields in rollups.attribution_rows_at(
                model, tenant_id, starts):
            key = Key(tenant_id, start_ms, bucket, currency)
            if key in totals:
                stored = attribution_rollup.from_row(*fields)
                stored.merge(totals[key])
                totals[key] = stored
    return _rows(model, totals)


def added(start_ms: int, end_ms: int, horizon_ms: int | None) -> Write:
    """The goals received in ``[start_ms, end_ms)`` (but those of periods before the horizon,
    a day's start) merged into the stored rows they touch, which only the aggregation writes
    (under its lock, or having counted its change)."""
    lowest = horizon_ms or 0
    by_tenant: dict[str, list[Any]] = defaultdict(list)
    for tenant_id, *fields in rollups.received_goals(start_ms, end_ms):
        if fields[0] >= lowest:
            by_tenant[tenant_id].append(fields)
    hours: dict[Key, Totals] = {}
    days: dict[Key, Totals] = {}
    for tenant_id, goals in by_tenant.items():
        for key, part in _hour_totals(tenant_id, goals).items():
            hours[key] = part
            days.setdefault(key.day(), Totals()).merge(part)
    hour_rows = _merged(HourlyAttribution, hours)
    day_rows = _merged(DailyAttribution, days)

    def apply() -> None:
        rollups.put_attribution(HourlyAttribution, hour_rows)
        rollups.put_attribution(DailyAttribution, day_rows)

    return Write(len(hour_rows) + len(day_rows), apply)


def _day_rows(days: Run, hours: list[tuple[Run, list[dict[str, Any]]]]
              ) -> list[dict[str, Any]]:
    """The rows of the tenant's days ``days``, merged from their hourly rows: the stored
    ones, less the hour runs ``hours`` recomputed, and those runs' new rows. Only the
    aggregation (under its lock) writes these rows, so they are read before its
    transaction."""
    totals: dict[Key, Totals] = {}

    def add(key: Key, part: Totals) -> None:
        if key.day() in totals:
            totals[key.day()].merge(part)
        else:
            totals[key.day()] = part

    for hour_start_ms, bucket, currency, *fields in rollups.attribution_rows(
            HourlyAttribution, days.tenant, days.first * DAY_MS, (days.last + 1) * DAY_MS):
        hour = hour_start_ms // HOUR_MS
        if not any(run.first <= hour <= run.last for run, _ in hours):
            add(Key(days.tenant, hour_start_ms, bucket, currency),
                attribution_rollup.from_row(*fields))
    for _, rows in hours:
        for row in rows:
            if days.first * DAY_MS <= row["hour_start_ms"] < (days.last + 1) * DAY_MS:
                add(Key(days.tenant, row["hour_start_ms"], row["bucket"], row["currency"]),
                    attribution_rollup.from_row(row["goals"], row["revenue_hundredths"],
                                                row["lag_histogram"], row["lag_sketch"]))
    return _rows(DailyAttribution, totals)


def recomputed(hours: Touched, received_before: int, horizon_ms: int | None) -> Write:
    """The rows of the touched hours (and of the days holding them) from the goals received
    before ``received_before``, to replace the stored ones."""
    hour_rows = [(run, _rows(HourlyAttribution, _hour_totals(
                      run.tenant, rollups.goals(run.tenant, run.first, run.last,
                                                received_before))))
                 for run in kept_runs(hours, HOUR_MS, horizon_ms)]
    day_rows = [(days, _day_rows(days, [(run, rows) for run, rows in hour_rows
                                        if run.tenant == days.tenant]))
                for days in day_runs(run for run, _ in hour_rows)]

    def apply() -> None:
        for model, runs in ((HourlyAttribution, hour_rows), (DailyAttribution, day_rows)):
            for run, rows in runs:
                rollups.replace(model, run.tenant, run.first, run.last, rows)

    return Write(sum(len(rows) for _, rows in (*hour_rows, *day_rows)), apply)
