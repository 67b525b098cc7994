"""The rollups' driver: the cursor, the batches, and the retry when a change came between.
Each rollup computes its own rows (``count_rows``, ``attribution_rows``).

The cursor and the rows a batch touches move in one transaction, so an event counts once
however runs crash or overlap; docs/scaling.md ("Aggregation is incremental and bounded") has
the design.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from peewee import SQL

from conversions.core.periods import HOUR_MS
from conversions.rollups import attribution_rows, count_rows
from conversions.rollups.touched import Touched, Write
from conversions.store import generations, leases, retention
from conversions.store.database import database
from conversions.store.generations import ROLLUP_CHANGES
from conversions.store.models import AGGREGATE_CURSOR, Event, JobCursor, RollupRefresh

# Events a batch reads at most (all events of one receive millisecond go together): a few
# MB of work, and a write transaction of tens of milliseconds.
BATCH_EVENTS = 20_000
# Each rollup: which events it holds (``holds``), a batch's rows to add (``added``), the
# rows of touched hours recomputed (``recomputed``).
ROLLUPS = (count_rows, attribution_rows)


def cursor_ms() -> int:
    """The receive time (ms) the rollups are exact up to (exclusive)."""
    return (JobCursor.select(JobCursor.position_ms)
            .where(JobCursor.name == AGGREGATE_CURSOR).scalar() or 0)


def _move_cursor(from_ms: int, to_ms: int) -> bool:
    """Move the cursor from ``from_ms`` to ``to_ms`` in the caller's transaction, first in
    it (so it holds the cursor's row); False if it is no longer at ``from_ms``."""
    return bool(JobCursor.update(position_ms=to_ms)
                .where(JobCursor.name == AGGREGATE_CURSOR, JobCursor.position_ms == from_ms)
                .execute())


def _batch_end(start_ms: int, end_ms: int) -> int:
    """The receive time closing the batch that starts at ``start_ms`` (at most ``end_ms``)."""
    boundary = (Event.select(Event.received_at_ms)
                .where(Event.received_at_ms >= start_ms, Event.received_at_ms < end_ms)
                .order_by(Event.received_at_ms).offset(BATCH_EVENTS).limit(1).scalar())
    return end_ms if boundary is None else max(int(boundary), start_ms + 1)


def _touched(start_ms: int, end_ms: int) -> list[Touched]:
    """The hours of the events received in ``[start_ms, end_ms)`` that each rollup holds."""
    hour = Event.occurred_at_ms / SQL(str(HOUR_MS))
    query = (Event.select(Event.tenant, hour, Event.source_type, Event.signed)
             .where(Event.received_at_ms >= start_ms, Event.received_at_ms < end_ms)
             .distinct().tuples())
    touched: list[Touched] = [defaultdict(set) for _ in ROLLUPS]
    for tenant_id, index, source_type, signed in query:
        for rollup, hours in zip(ROLLUPS, touched, strict=True):
            if rollup.holds(source_type, signed):
                hours[tenant_id].add(int(index))
    return touched


def _recompute(touched: Sequence[Touched], received_before: int, horizon_ms: int | None,
               refreshed: Iterable[int] = ()) -> int:
    """Recompute each rollup's touched hours from the events received before
    ``received_before``, then replace their rows (and drop the refresh requests
    ``refreshed``) in one transaction; returns the rows written."""
    refreshed = list(refreshed)

    def first() -> bool:
        if refreshed:
            RollupRefresh.delete().where(RollupRefresh.id.in_(refreshed)).execute()
        return True

    writes = _apply_unchanged(
        lambda: [rollup.recomputed(hours, received_before, horizon_ms)
                 for rollup, hours in zip(ROLLUPS, touched, strict=True)], first)
    return sum(write.rows for write in writes or ())


def _apply_unchanged(compute: Callable[[], list[Write]], first: Callable[[], bool]
                     ) -> list[Write] | None:
    """Apply the writes ``compute`` makes from the events, in one transaction that runs
    ``first`` first (False: nothing is written, and the answer is None); computed again
    while a change of the rollups (``refresh_event``, a report taken out of them by
    ``store.cross_channel``) was counted since.

    Everything is read and computed outside the transaction, which holds the change counter
    before it writes: a change being written is waited for and seen, one to come waits for
    this commit (then applies to the rows written here). So the writes hold the write lock
    for tens of milliseconds, not for the reads, and no change made meanwhile is lost.
    """
    while True:
        changes = generations.current(ROLLUP_CHANGES)
        writes = compute()
        with database.atomic() as transaction:
            if not first():
                transaction.rollback()
                return None
            generations.hold(ROLLUP_CHANGES)
            if generations.current(ROLLUP_CHANGES) != changes:
                transaction.rollback()
                continue
            _apply(writes)
        return writes


def _apply(writes: Iterable[Write]) -> None:
    for write in writes:
        write.apply()


def _refresh_requested(horizon_ms: int | None) -> int:
    """Recompute the periods of events stored behind the cursor (``request_refresh``)."""
    requests = list(RollupRefresh.select(RollupRefresh.id, RollupRefresh.tenant,
                                         RollupRefresh.occurred_at_ms).tuples())
    if not requests:
        return 0
    hours: Touched = defaultdict(set)
    for _, tenant_id, occurred_ms in requests:
        hours[tenant_id].add(occurred_ms // HOUR_MS)
    return _recompute([hours] * len(ROLLUPS), cursor_ms(), horizon_ms,
                      refreshed=[request_id for request_id, _, _ in requests])


def _add(start_ms: int, end_ms: int, horizon_ms: int | None) -> int | None:
    """Add the events received in ``[start_ms, end_ms)`` to the rollups (but those of
    periods before the prune horizon, which stay as they are) and move the cursor from
    ``start_ms`` to ``end_ms``, in one transaction; returns the rows written, or None if
    another run had moved the cursor (nothing is written then). The cursor moves first in
    that transaction, so an event counts once, the cursor moving with the rows it was added
    to."""
    writes = _apply_unchanged(
        lambda: [rollup.added(start_ms, end_ms, horizon_ms) for rollup in ROLLUPS],
        lambda: _move_cursor(start_ms, end_ms))
    return None if writes is None else sum(write.rows for write in writes)


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
    generations.start(ROLLUP_CHANGES)
    written = _refresh_requested(horizon_ms)
    JobCursor.insert(name=AGGREGATE_CURSOR, position_ms=0).on_conflict_ignore().execute()
    cursor = cursor_ms()
    start = cursor if start_ms is None else start_ms
    while start < cursor and (deadline is None or time.monotonic() < deadline):
        batch_end = _batch_end(start, cursor)
        written += _recompute(_touched(start, batch_end), cursor, horizon_ms)
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
    # First: a batch being written is waited for, and its cursor read next.
    generations.bump(ROLLUP_CHANGES)
    hour = {tenant_id: {occurred_at_ms // HOUR_MS}}
    _recompute([hour if rollup.holds(source_type, signed) else {} for rollup in ROLLUPS],
               cursor_ms(), horizon_ms=None)
