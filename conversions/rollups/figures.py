"""Event counts and value sums by period, from the hourly aggregates plus the
not-yet-aggregated tail, so figures are exact up to now; shared by stats, metrics and health."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import JOIN, SQL, Case, Expression, fn

from conversions.core import money
from conversions.core.periods import GRANULARITIES, floor, iso
from conversions.core.sources import NAMES
from conversions.rollups import aggregation, tally
from conversions.store.database import database, is_postgres
from conversions.store.models import (
    DailyAggregate,
    Event,
    HourlyAggregate,
    OutcomeCount,
    SupersededEvent,
)

# period start (ms), source type, event name, currency ("": none) -> [events, value
# hundredths, superseded]: the reports that count and their value, and the reports another
# channel's report of the same conversion took over (``store.cross_channel``).
Buckets = dict[tuple[int, str, str, str], list[int]]


@contextmanager
def snapshot() -> Iterator[None]:
    """One consistent view across queries (the cursor and the rows it covers)."""
    if is_postgres():
        with database.atomic(isolation_level="REPEATABLE READ"):
            yield
    else:  # a read: deferred, so it takes no write lock
        with database.atomic("DEFERRED"):
            yield


def in_event_time(start_ms: int, end_ms: int) -> tuple[Expression, Expression]:
    """Conditions on the tail's event time that no index serves (``+ 0``): the planner must
    find the tail by receive time (tenant, source, received), not read the whole range of
    event time through its index."""
    occurred = Event.occurred_at_ms + 0
    return occurred >= start_ms, occurred < end_ms


def by_period(tenant_id: str, start_ms: int, end_ms: int, granularity: str = "hour",
              source_type: str | None = None, by_name: bool = True) -> Buckets:
    """Every period of ``granularity`` in ``[start_ms, end_ms)`` (period-aligned) with
    events, by event time: the hourly or daily aggregates, plus the tail. Not ``by_name``,
    the names are summed (as "") by the database, which sends a fraction of the rows."""
    buckets: Buckets = defaultdict(lambda: [0, 0, 0])
    agg, start = ((DailyAggregate, DailyAggregate.day_start_ms) if granularity == "day"
                  else (HourlyAggregate, HourlyAggregate.hour_start_ms))
    # A literal, not a parameter, so PostgreSQL sees the grouped expression as selected.
    size = SQL(str(GRANULARITIES[granularity]))
    name, tail_name = ((agg.event_name, Event.event_name) if by_name else (SQL("''"),) * 2)
    with snapshot():
        cursor = aggregation.cursor_ms()
        query = (agg.select(start, agg.source_type, name, agg.currency, fn.SUM(agg.events),
                            fn.SUM(agg.value_hundredths), fn.SUM(agg.superseded))
                 .where(agg.tenant == tenant_id, start >= start_ms, start < end_ms)
                 .group_by(start, agg.source_type, *([name] if by_name else []),
                           agg.currency))
        if source_type:
            query = query.where(agg.source_type == source_type)
        tail_period = (Event.occurred_at_ms / size * size).alias("period")
        superseded = SupersededEvent.event.is_null(False)
        tail = (Event.select(tail_period, Event.source_type, tail_name, Event.currency,
                             fn.SUM(Case(None, [(superseded, 0)], 1)),
                             fn.COALESCE(fn.SUM(Case(None, [(superseded, 0)],
                                                     Event.value_hundredths)), 0),
                             fn.COUNT(SupersededEvent.event))
                .join(SupersededEvent, JOIN.LEFT_OUTER,
                      on=SupersededEvent.event == Event.id)
                .where(Event.tenant == tenant_id,
                       Event.source_type.in_([source_type] if source_type else NAMES),
                       Event.received_at_ms >= cursor, *in_event_time(start_ms, end_ms))
                .group_by(tail_period, Event.source_type,
                          *([tail_name] if by_name else []), Event.currency))
        # Plain rows from the driver: Peewee's conversion of each would cost more than the
        # query (the values are text and whole numbers already).
        for part in (database.execute(query).fetchall(), database.execute(tail).fetchall()):
            for period_ms, source, name, cur, events, value, gone in part:
                bucket = buckets[(int(period_ms), source, name, cur or "")]
                bucket[0] += int(events)
                bucket[1] += int(value)
                bucket[2] += int(gone)
    return dict(buckets)


def rollup(buckets: Buckets, granularity: str, by: tuple[str, ...],
           count_name: str = "events", received: bool = False) -> list[dict[str, Any]]:
    """Sum ``buckets`` into periods of ``granularity`` and the fields ``by`` names
    (``source_type``, ``event_name``, ``currency``), each with a count and ``value`` per
    currency; events without a value count under currency "" and have none. ``received``:
    the count is of every report received, and ``superseded`` says how many of them another
    channel's report took over; else it is of the conversions that count."""
    totals: dict[tuple, list] = {}
    for (period_ms, source, name, cur), (events, value, gone) in buckets.items():
        currency = cur or (money.NO_CURRENCY if value else "")
        fields = {"source_type": source, "event_name": name, "currency": currency}
        key = (floor(period_ms, granularity), *(fields[f] for f in by))
        total = totals.setdefault(key, [0, defaultdict(int), 0])
        total[0] += events + gone if received else events
        total[2] += gone
        if currency and (value or events):
            total[1][currency] += value
    return [{"period_start": iso(key[0]), **dict(zip(by, key[1:], strict=True)),
             count_name: events, "value": {c: money.text(v) for c, v in sorted(values.items())},
             **({"superseded": gone} if received else {})}
            for key, (events, values, gone) in sorted(totals.items())
            if events or received]


def outcome_counts(tenant_id: str | None, start_ms: int, end_ms: int,
                   source_type: str | None = None, received: bool = False) -> dict[str, int]:
    """Rejections by error code in the hours overlapping ``[start_ms, end_ms)``, as flushed;
    ``received``: the other outcomes instead (accepted, duplicate, test), each present."""
    outcome = OutcomeCount.outcome
    query = (OutcomeCount.select(outcome, fn.SUM(OutcomeCount.count))
             .where(outcome.in_(tally.RECEIVED) if received else outcome.not_in(tally.RECEIVED),
                    OutcomeCount.hour_start_ms >= floor(start_ms, "hour"),
                    OutcomeCount.hour_start_ms < end_ms)
             .group_by(OutcomeCount.outcome))
    if tenant_id is not None:
        query = query.where(OutcomeCount.tenant_id == tenant_id)
    if source_type:
        query = query.where(OutcomeCount.source_type == source_type)
    counts = {name: int(count) for name, count in sorted(query.tuples())}
    return {name: counts.get(name, 0) for name in tally.RECEIVED} if received else counts
