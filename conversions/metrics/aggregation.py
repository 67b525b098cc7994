"""Hourly aggregates of events, recomputed per touched hour so a re-run gives the same rows.

The cursor is a receive time: the aggregates hold exactly the events received before it,
and readers add the events received since (the tail) to be exact up to now.
"""
from __future__ import annotations

import time

from peewee import SQL, fn

from conversions.core.periods import HOUR_MS
from conversions.store import leases
from conversions.store.database import database
from conversions.store.models import Event, HourlyAggregate, JobCursor

CURSOR = "aggregate"


def cursor_ms() -> int:
    """The receive time (ms) the aggregates are exact up to (exclusive)."""
    return JobCursor.select(JobCursor.position_ms).where(JobCursor.name == CURSOR).scalar() or 0


def _touched(start_ms: int, end_ms: int) -> list[tuple[str, int]]:
    """(tenant, hour index) of events received in ``[start_ms, end_ms)``."""
    hour = (Event.occurred_at_ms / SQL(str(HOUR_MS))).alias("hour")
    query = (Event.select(Event.tenant, hour)
             .where(Event.received_at_ms >= start_ms, Event.received_at_ms < end_ms)
             .distinct().tuples())
    return sorted({(tenant, int(index)) for tenant, index in query})


def _hour_rows(tenant_id: str, hour: int, end_ms: int) -> list[dict]:
    """The aggregate rows of one tenant's hour, from the events received before ``end_ms``."""
    query = (Event.select(Event.source_type, Event.event_name, Event.currency,
                          fn.COUNT(Event.id), fn.COALESCE(fn.SUM(Event.value_hundredths), 0))
             .where(Event.tenant == tenant_id,
                    Event.occurred_at_ms >= hour * HOUR_MS,
                    Event.occurred_at_ms < (hour + 1) * HOUR_MS,
                    Event.received_at_ms < end_ms)
             .group_by(Event.source_type, Event.event_name, Event.currency)
             .tuples())
    return [{"tenant": tenant_id, "hour_start_ms": hour * HOUR_MS, "source_type": source,
             "event_name": name, "currency": cur or "", "events": int(count),
             "value_hundredths": int(value)}
            for source, name, cur, count, value in query]


def aggregate(end_ms: int, start_ms: int | None = None) -> int:
    """Bring the aggregates up to receive time ``end_ms``; returns the rows written.

    Every hour touched by an event received since the cursor (or ``start_ms``) is recomputed
    whole from the raw events and replaced, so running it again changes nothing. Events
    received before ``end_ms`` are committed and never change, so they are read outside the
    short write transaction.
    """
    cursor = cursor_ms()
    start = cursor if start_ms is None else start_ms
    end_ms = max(end_ms, cursor)  # the cursor never goes back: the tail starts there
    if end_ms <= start:
        return 0
    hours = _touched(start, end_ms)
    rows = [row for tenant_id, hour in hours for row in _hour_rows(tenant_id, hour, end_ms)]
    with database.atomic():
        for tenant_id, hour in hours:
            HourlyAggregate.delete().where(HourlyAggregate.tenant == tenant_id,
                                           HourlyAggregate.hour_start_ms == hour * HOUR_MS
                                           ).execute()
        for index in range(0, len(rows), 200):
            HourlyAggregate.insert_many(rows[index:index + 200]).execute()
        (JobCursor.insert(name=CURSOR, position_ms=end_ms)
         .on_conflict(conflict_target=[JobCursor.name], preserve=[JobCursor.position_ms])
         .execute())
    return len(rows)


class AggregationBusy(RuntimeError):
    """The aggregate job kept its lock for longer than a caller would wait."""


def aggregate_received_since(since_ms: int, wait_seconds: float = 120) -> None:
    """Recompute the aggregates of the hours of events received since ``since_ms``.

    Stats read the aggregates plus the events received since the cursor, so an event stored
    with an older receive time (an import) would otherwise count nowhere. Waits while the
    aggregate job runs, up to ``wait_seconds``.
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


def refresh_hour(tenant_id: str, at_ms: int) -> None:
    """Recompute the tenant's hour holding event time ``at_ms`` from the events received
    before the cursor, in the caller's transaction: an event of that hour changed and was
    moved to the tail (a later Approved postback), so it leaves the aggregate it was in."""
    hour = at_ms // HOUR_MS
    rows = _hour_rows(tenant_id, hour, cursor_ms())
    HourlyAggregate.delete().where(HourlyAggregate.tenant == tenant_id,
                                   HourlyAggregate.hour_start_ms == hour * HOUR_MS).execute()
    if rows:
        HourlyAggregate.insert_many(rows).execute()
