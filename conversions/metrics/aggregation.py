"""The rollups: hourly aggregates (``HourlyAggregate``: events and value by hour of event
time, source, name and currency) with their sums by day (``DailyAggregate``), and the
attribution rollup (``HourlyAttribution``: signed goals by hour of event time, first-touch
bucket and currency, ``attribution_rollup``) with its days (``DailyAttribution``).

The cursor is a receive time: the rollups hold exactly the events received before it, and
readers add the events received since (the tail) to be exact up to now. A run walks the
receive times since the cursor in batches of at most ``BATCH_EVENTS`` events. Each batch's
events are read and grouped first, outside any transaction, by receive time (so a batch
costs the same whatever the history); then one short transaction moves the cursor past the
batch (compare-and-set: a run that finds it moved writes nothing) and adds the batch to
the rows it touches: counts added to the aggregates, goals merged into the attribution rows
(their lags' sketches merge exactly, bin by bin). The cursor and the rows move together, so
an event counts once however runs crash or overlap.

What cannot be added is recomputed, period by period, from the raw events received before
the cursor: an event that changes (an approved postback moves to the tail and leaves the
rollup it was in, ``refresh_event``), and events stored behind the cursor (a dead-letter
replay, ``request_refresh``; an import, ``aggregate_received_since``).

Periods that start before the prune horizon (``store.retention``) are never changed: their
raw events may have been pruned, and the rollups are then all that is left of them.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from peewee import SQL

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.metrics import attribution_rollup
from conversions.store import leases, retention, rollups
from conversions.store.database import database
from conversions.store.models import (
    AGGREGATE_CURSOR,
    DailyAggregate,
    DailyAttribution,
    Event,
    HourlyAggregate,
    HourlyAttribution,
    JobCursor,
    RollupRefresh,
)

# Events a batch reads at most (all events of one receive millisecond go together): a few
# MB of work, and a write transaction of tens of milliseconds.
BATCH_EVENTS = 20_000

# Periods by tenant: hour or day indexes (event time // HOUR_MS or DAY_MS).
Touched = dict[str, set[int]]
# Attribution totals by tenant and key.
Deltas = dict[tuple[str, attribution_rollup.Key], attribution_rollup.Totals]
# The JobCursor counting the rollup changes of changed events (``refresh_event``).
CHANGES = "rollup_changes"


def cursor_ms() -> int:
    """The receive time (ms) the rollups are exact up to (exclusive)."""
    return (JobCursor.select(JobCursor.position_ms)
            .where(JobCursor.name == AGGREGATE_CURSOR).scalar() or 0)


def _runs(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive indexes as ``(first, last)`` runs, so each run is one range query."""
    runs: list[tuple[int, int]] = []
    for index in sorted(indexes):
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _kept_runs(touched: Touched, size_ms: int, horizon_ms: int | None
               ) -> list[tuple[str, tuple[int, int]]]:
    """The touched periods as runs by tenant, less any period starting before the horizon."""
    lowest = 0 if horizon_ms is None else -(-horizon_ms // size_ms)
    return [(tenant_id, (max(first, lowest), last))
            for tenant_id, indexes in sorted(touched.items())
            for first, last in _runs(indexes) if last >= lowest]


def _batch_end(start_ms: int, end_ms: int) -> int:
    """The receive time closing the batch that starts at ``start_ms`` (at most ``end_ms``)."""
    boundary = (Event.select(Event.received_at_ms)
                .where(Event.received_at_ms >= start_ms, Event.received_at_ms < end_ms)
                .order_by(Event.received_at_ms).offset(BATCH_EVENTS).limit(1).scalar())
    return end_ms if boundary is None else max(int(boundary), start_ms + 1)


def _touched(start_ms: int, end_ms: int) -> tuple[Touched, Touched]:
    """The hours of events received in ``[start_ms, end_ms)``, and those of its attributed
    goals."""
    hour = Event.occurred_at_ms / SQL(str(HOUR_MS))
    query = (Event.select(Event.tenant, hour, Event.source_type, Event.signed)
             .where(Event.received_at_ms >= start_ms, Event.received_at_ms < end_ms)
             .distinct().tuples())
    hours: Touched = defaultdict(set)
    goal_hours: Touched = defaultdict(set)
    for tenant_id, index, source_type, signed in query:
        hours[tenant_id].add(int(index))
        if attribution_rollup.counts(source_type, signed):
            goal_hours[tenant_id].add(int(index))
    return hours, goal_hours


def _hour_rows(tenant_id: str, first: int, last: int, received_before: int) -> list[dict]:
    """The aggregate rows of the tenant's hours ``first..last``, from the events received
    before ``received_before``: one grouped range query."""
    return list(_aggregate_rows(rollups.hour_groups(tenant_id, first, last, received_before),
                                HOUR_MS).values())


def _aggregate_rows(groups: Iterable[tuple[str, int, str, str, str | None, int, int]],
                    size_ms: int, period: str = "hour_start_ms") -> dict[tuple, dict]:
    """Aggregate rows by key, of periods ``size_ms`` long, from ``hour_groups``' tuples."""
    rows: dict[tuple, dict] = {}
    for tenant_id, index, source, name, cur, count, value in groups:
        start = int(index) * HOUR_MS // size_ms * size_ms
        key = (tenant_id, start, source, name, cur or "")
        if key in rows:
            rows[key]["events"] += int(count)
            rows[key]["value_hundredths"] += int(value)
        else:
            rows[key] = {"tenant": tenant_id, period: start, "source_type": source,
                         "event_name": name, "currency": cur or "", "events": int(count),
                         "value_hundredths": int(value)}
    return rows


def _goal_hour_rows(tenant_id: str, first: int, last: int, received_before: int
                    ) -> list[dict]:
    """The attribution rows of the tenant's hours ``first..last``, from the signed goals
    received before ``received_before``."""
    goals = rollups.goals(tenant_id, first, last, received_before)
    return [attribution_rollup.row(tenant_id, key, totals, "hour_start_ms")
            for key, totals in attribution_rollup.from_events(goals, HOUR_MS).items()]


def _day_rows(tenant_id: str, first_day: int, last_day: int,
              new_hours: list[tuple[tuple[int, int], list[dict]]]) -> list[dict]:
    """The attribution rows of the tenant's days ``first_day..last_day``, merged from their
    hourly rows: the stored ones, less the hour runs in ``new_hours``, replaced by their new
    rows. Only the aggregation (under its lock) writes these rows, so they are read before
    its transaction."""
    replaced = [run for run, _ in new_hours]
    days: dict[attribution_rollup.Key, attribution_rollup.Totals] = {}

    def add(hour_start_ms: int, bucket: str, currency: str,
            part: attribution_rollup.Totals) -> None:
        key = (hour_start_ms - hour_start_ms % DAY_MS, bucket, currency)
        if key in days:
            days[key].merge(part)
        else:
            days[key] = part

    for hour_start_ms, bucket, currency, *fields in rollups.attribution_rows(
            HourlyAttribution, tenant_id, first_day * DAY_MS, (last_day + 1) * DAY_MS):
        hour = hour_start_ms // HOUR_MS
        if not any(first <= hour <= last for first, last in replaced):
            add(hour_start_ms, bucket, currency, attribution_rollup.from_row(*fields))
    for _, rows in new_hours:
        for row in rows:
            if first_day * DAY_MS <= row["hour_start_ms"] < (last_day + 1) * DAY_MS:
                add(row["hour_start_ms"], row["bucket"], row["currency"],
                    attribution_rollup.from_row(row["goals"], row["revenue_hundredths"],
                                                row["lag_histogram"], row["lag_sketch"]))
    return [attribution_rollup.row(tenant_id, key, totals) for key, totals in days.items()]


def _days_of(runs: list[tuple[str, tuple[int, int], list[dict]]]) -> Touched:
    """The days holding the hour runs ``runs``."""
    days: Touched = defaultdict(set)
    for tenant_id, (first, last), _ in runs:
        days[tenant_id].update(range(first * HOUR_MS // DAY_MS, last * HOUR_MS // DAY_MS + 1))
    return days


def _recompute(hours: Touched, goal_hours: Touched, received_before: int,
               horizon_ms: int | None, refreshed: Iterable[int] = ()) -> int:
    """Recompute the touched periods from the events received before ``received_before``,
    then replace their rows (and drop the refresh requests ``refreshed``) in one
    transaction; returns the rows written."""
    hour_runs = [(t, run, _hour_rows(t, *run, received_before))
                 for t, run in _kept_runs(hours, HOUR_MS, horizon_ms)]
    goal_runs = [(t, run, _goal_hour_rows(t, *run, received_before))
                 for t, run in _kept_runs(goal_hours, HOUR_MS, horizon_ms)]
    by_tenant: dict[str, list[tuple[tuple[int, int], list[dict]]]] = defaultdict(list)
    for tenant_id, run, rows in goal_runs:
        by_tenant[tenant_id].append((run, rows))
    day_runs = [(t, run, _day_rows(t, *run, by_tenant[t]))
                for t, indexes in _days_of(goal_runs).items() for run in _runs(indexes)]
    refreshed = list(refreshed)
    with database.atomic():
        for tenant_id, (first, last), rows in hour_runs:
            rollups.replace(HourlyAggregate, tenant_id, first, last, rows)
        # The days holding recomputed hours: their daily aggregates are summed from the hours.
        for tenant_id, indexes in _days_of(hour_runs).items():
            for first, last in _runs(indexes):
                rollups.sum_days(tenant_id, first, last)
        for tenant_id, (first, last), rows in goal_runs:
            rollups.replace(HourlyAttribution, tenant_id, first, last, rows)
        for tenant_id, (first, last), rows in day_runs:
            rollups.replace(DailyAttribution, tenant_id, first, last, rows)
        if refreshed:
            RollupRefresh.delete().where(RollupRefresh.id.in_(refreshed)).execute()
    return sum(len(rows) for runs in (hour_runs, goal_runs, day_runs) for _, _, rows in runs)


def _refresh_requested(horizon_ms: int | None) -> int:
    """Recompute the periods of events stored behind the cursor (``request_refresh``)."""
    requests = list(RollupRefresh.select(RollupRefresh.id, RollupRefresh.tenant,
                                         RollupRefresh.occurred_at_ms).tuples())
    if not requests:
        return 0
    hours: Touched = defaultdict(set)
    for _, tenant_id, occurred_ms in requests:
        hours[tenant_id].add(occurred_ms // HOUR_MS)
    return _recompute(hours, hours, cursor_ms(), horizon_ms,
                      refreshed=[request_id for request_id, _, _ in requests])


def _move_cursor(from_ms: int, to_ms: int) -> bool:
    """Move the cursor from ``from_ms`` to ``to_ms`` in the caller's transaction, first in
    it (so it holds the cursor's row); False if it is no longer at ``from_ms``."""
    return bool(JobCursor.update(position_ms=to_ms)
                .where(JobCursor.name == AGGREGATE_CURSOR, JobCursor.position_ms == from_ms)
                .execute())


def _merged_attribution(model: Any, deltas: Deltas) -> list[dict]:
    """The attribution rows of ``model`` holding ``deltas`` added to the stored ones: one
    query per tenant for the periods it touches."""
    period = rollups.PERIOD[model].name
    by_tenant: dict[str, set[int]] = defaultdict(set)
    for tenant_id, (start_ms, _, _) in deltas:
        by_tenant[tenant_id].add(start_ms)
    totals = dict(deltas)
    for tenant_id, starts in by_tenant.items():
        for start_ms, bucket, currency, *fields in rollups.attribution_rows_at(
                model, tenant_id, starts):
            key = (tenant_id, (start_ms, bucket, currency))
            if key in totals:
                stored = attribution_rollup.from_row(*fields)
                stored.merge(totals[key])
                totals[key] = stored
    return [attribution_rollup.row(tenant_id, key, part, period)
            for (tenant_id, key), part in totals.items()]


def _changes() -> int:
    """How many times rows were recomputed for a changed event (``refresh_event``)."""
    return (JobCursor.select(JobCursor.position_ms)
            .where(JobCursor.name == CHANGES).scalar() or 0)


def _count_change() -> None:
    """Count a change, first in the caller's transaction: holding the counter's row, it waits
    for a batch being written (PostgreSQL), and a batch read meanwhile is read again."""
    (JobCursor.insert(name=CHANGES, position_ms=1)
     .on_conflict(conflict_target=[JobCursor.name],
                  update={JobCursor.position_ms: JobCursor.position_ms + 1})
     .execute())


def _add(start_ms: int, end_ms: int, horizon_ms: int | None) -> int | None:
    """Add the events received in ``[start_ms, end_ms)`` to the rollups (but those of
    periods before the prune horizon, which stay as they are) and move the cursor from
    ``start_ms`` to ``end_ms``, in one transaction; returns the rows written, or None if
    another run had moved the cursor (nothing is written then).

    Everything is read and computed first, outside the transaction: the batch's events by
    receive time (two queries, whatever the history) and the attribution rows they touch,
    which only the aggregation writes, under its lock, or ``refresh_event``, which counts
    its change. The transaction moves the cursor, checks that no change was counted since
    (else the batch is read again), and writes: an event counts once, the cursor moving with
    the rows it was added to.
    """
    while True:
        changes = _changes()
        hours, days, goal_hours, goal_days = _batch(start_ms, end_ms, horizon_ms)
        hour_rows = _merged_attribution(HourlyAttribution, goal_hours)
        day_rows = _merged_attribution(DailyAttribution, goal_days)
        with database.atomic() as transaction:
            if not _move_cursor(start_ms, end_ms):
                transaction.rollback()
                return None
            # The counter's row held (a no-op update) before it is read: an approval
            # being written is waited for and seen.
            JobCursor.update(position_ms=JobCursor.position_ms).where(
                JobCursor.name == CHANGES).execute()
            if _changes() != changes:
                transaction.rollback()
                continue
            rollups.add_counts(HourlyAggregate, list(hours.values()))
            rollups.add_counts(DailyAggregate, list(days.values()))
            rollups.put_attribution(HourlyAttribution, hour_rows)
            rollups.put_attribution(DailyAttribution, day_rows)
        return len(hours) + len(hour_rows) + len(day_rows)  # as _recompute counts them


def _batch(start_ms: int, end_ms: int, horizon_ms: int | None
           ) -> tuple[dict[tuple, dict], dict[tuple, dict], Deltas, Deltas]:
    """The aggregate rows (by hour, by day) and the attribution totals (by tenant and hour,
    by tenant and day) of the events received in ``[start_ms, end_ms)``."""
    # The horizon is the start of a day: a period starts before it if its events occurred so.
    lowest = horizon_ms or 0
    groups = [group for group in rollups.received_hour_groups(start_ms, end_ms)
              if group[1] * HOUR_MS >= lowest]
    goal_hours: Deltas = {}
    goal_days: Deltas = {}
    by_tenant: dict[str, list] = defaultdict(list)
    for tenant_id, *fields in rollups.received_goals(start_ms, end_ms):
        if fields[0] >= lowest:
            by_tenant[tenant_id].append(fields)
    for tenant_id, goals in by_tenant.items():
        for (hour_ms, bucket, currency), part in attribution_rollup.from_events(
                goals, HOUR_MS).items():
            goal_hours[(tenant_id, (hour_ms, bucket, currency))] = part
            day_key = (tenant_id, (hour_ms - hour_ms % DAY_MS, bucket, currency))
            goal_days.setdefault(day_key, attribution_rollup.Totals()).merge(part)
    return (_aggregate_rows(groups, HOUR_MS), _aggregate_rows(groups, DAY_MS, "day_start_ms"),
            goal_hours, goal_days)


def aggregate(end_ms: int, start_ms: int | None = None, budget_seconds: float | None = None
              ) -> int:
    """Bring the rollups up to receive time ``end_ms``; returns the rows written.

    Walks the events received since the cursor in batches, each its own transaction that
    adds the batch to the rollups and advances the cursor, which never goes back. From
    ``start_ms`` before the cursor, the periods of the events received between the two
    (an import) are first recomputed from the raw events received before the cursor. Past
    ``budget_seconds`` no new batch starts: the next run goes on from the cursor. Events
    received before ``end_ms`` are committed and never change, so they are read outside the
    short write transactions.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    horizon_ms = retention.pruned_before_ms()
    written = _refresh_requested(horizon_ms)
    JobCursor.insert_many([{"name": AGGREGATE_CURSOR, "position_ms": 0},
                           {"name": CHANGES, "position_ms": 0}]).on_conflict_ignore().execute()
    cursor = cursor_ms()
    start = cursor if start_ms is None else start_ms
    while start < cursor and (deadline is None or time.monotonic() < deadline):
        batch_end = _batch_end(start, cursor)
        written += _recompute(*_touched(start, batch_end), cursor, horizon_ms)
        start = batch_end
    while cursor < end_ms and (deadline is None or time.monotonic() < deadline):
        batch_end = _batch_end(cursor, end_ms)
        added = _add(cursor, batch_end, horizon_ms)
        if added is None:  # another run got there first: it goes on from there
            break
        written += added
        cursor = batch_end
    return written


def request_refresh(tenant_id: str, occurred_ms: Iterable[int]) -> None:
    """Have the next run recompute the periods of events just stored with a receive time
    the cursor may have passed, in the caller's transaction (so with the events)."""
    rows = [{"tenant": tenant_id, "occurred_at_ms": ms} for ms in occurred_ms]
    if rows:
        RollupRefresh.insert_many(rows).execute()


class AggregationBusy(RuntimeError):
    """The aggregate job kept its lock for longer than a caller would wait."""


def aggregate_received_since(since_ms: int, wait_seconds: float = 120) -> None:
    """Recompute the rollups of the periods of events received since ``since_ms``.

    Readers add only the events received since the cursor, so an event stored with an older
    receive time (an import) would otherwise count nowhere. Waits while the aggregate job
    runs, up to ``wait_seconds``.
    """
    deadline = time.monotonic() + wait_seconds
    while since_ms < cursor_ms():
        with leases.held("aggregate", 600_000) as taken:  # the aggregate job's own lock
            if taken:
                aggregate(cursor_ms(), start_ms=since_ms)
                return
        if time.monotonic() > deadline:
            raise AggregationBusy("the aggregate job kept its lock")
        time.sleep(0.5)


def refresh_event(tenant_id: str, occurred_at_ms: int, source_type: str, signed: bool) -> None:
    """Recompute every rollup period holding a changed event (event time ``occurred_at_ms``)
    from the events received before the cursor, in the caller's transaction: the event was
    moved to the tail (a postback approved or reversed), so it leaves the rollups it was in."""
    _count_change()  # first: a batch being written is waited for, and its cursor read next
    hours = {tenant_id: {occurred_at_ms // HOUR_MS}}
    goal_hours = hours if attribution_rollup.counts(source_type, signed) else {}
    _recompute(hours, goal_hours, cursor_ms(), horizon_ms=None)
