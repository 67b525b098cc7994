"""Bounded tables: each insert drops the oldest rows beyond a cap, in the same transaction;
and raw events pruned past their retention, the rollups kept: in small batches, and on
PostgreSQL whole months of them dropped at once (``store.partition_retention``)."""
from __future__ import annotations

from typing import Any

from peewee import Model

from conversions.store import event_keys, partition_retention, partitions
from conversions.store.database import database
from conversions.store.models import (
    PRUNED_BEFORE,
    ConversionClaim,
    Event,
    JobCursor,
    SupersededEvent,
    Tenant,
)

# Events a prune deletes per transaction: short enough never to hold up ingestion.
PRUNE_BATCH = 5000


def insert_capped(model: type[Model], row: dict[str, Any], cap: int,
                  oldest_ms: int | None = None) -> int:
    """Insert ``row``; keep only the newest ``cap`` rows of its tenant and source, and none
    received before ``oldest_ms``. A flood of inserts can never grow the table beyond that."""
    with database.atomic():
        new_id = model.insert(**row).execute()
        scope = (model.tenant == row["tenant"]) & (model.source_type == row["source_type"])
        boundary = (model.select(model.id).where(scope).order_by(model.id.desc())
                    .offset(max(cap, 1)).limit(1).scalar())
        if boundary is not None:
            model.delete().where(scope & (model.id <= boundary)).execute()
        if oldest_ms is not None:
            model.delete().where(model.received_at_ms < oldest_ms).execute()
    return int(new_id)


def pruned_before_ms() -> int | None:
    """Event time before which raw events may have been pruned (None: never pruned)."""
    return JobCursor.select(JobCursor.position_ms).where(JobCursor.name == PRUNED_BEFORE).scalar()


def prune_events(before_ms: int, received_before_ms: int, batch: int = PRUNE_BATCH) -> int:
    """Delete the events that occurred before ``before_ms`` and were received before
    ``received_before_ms`` (the aggregation cursor: they are in the rollups), ``batch`` at a
    time, each its own transaction; returns how many.

    The horizon is recorded first, so the rollups of periods before it are never recomputed
    from what is left of their events. On PostgreSQL the months entirely before the horizon
    are dropped whole, then the rest (the month at the horizon, events of older months the
    rollups lack yet, the DEFAULT partition) deleted in batches with their keys.
    """
    before_ms = max(before_ms, pruned_before_ms() or 0)
    (JobCursor.insert(name=PRUNED_BEFORE, position_ms=before_ms)
     .on_conflict(conflict_target=[JobCursor.name], preserve=[JobCursor.position_ms])
     .execute())
    keyed_apart = partitions.partitioned(database.obj)
    deleted = (partition_retention.drop_months(database.obj, before_ms, received_before_ms, batch)
               if keyed_apart else 0)
    for (tenant_id,) in list(Tenant.select(Tenant.id).tuples()):
        while True:
            # Each tenant's oldest first, by the (tenant, event time) index.
            oldest = (Event.select(Event.id)
                      .where(Event.tenant == tenant_id, Event.occurred_at_ms < before_ms,
                             Event.received_at_ms < received_before_ms)
                      .limit(batch))
            gone = Event.delete().where(Event.id.in_(oldest), Event.occurred_at_ms < before_ms)
            with database.atomic():
                if keyed_apart:
                    keys = list(gone.returning(Event.tenant, Event.source_type,
                                               Event.dedup_key).tuples().execute())
                    event_keys.delete_keys_of(keys)
                    count = len(keys)
                else:
                    count = gone.execute()
            deleted += count
            if count < batch:
                break
    _forget_settled(before_ms)
    return deleted


def _forget_settled(before_ms: int) -> None:
    """Drop what cross-channel settlement kept of the events gone: the claims of conversions
    before the horizon (no report that old is accepted any more) and the marks of superseded
    reports whose rows were pruned (an older one not pruned yet keeps its mark)."""
    with database.atomic():
        ConversionClaim.delete().where(ConversionClaim.occurred_at_ms < before_ms).execute()
        left = Event.select(Event.id).where(Event.occurred_at_ms < before_ms)
        (SupersededEvent.delete()
         .where(SupersededEvent.occurred_at_ms < before_ms, SupersededEvent.event.not_in(left))
         .execute())
