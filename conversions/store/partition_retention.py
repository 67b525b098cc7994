"""The retention prune's part on PostgreSQL: whole months of events dropped at once, each
detached first under a short lock, then its keys deleted in batches, then its table."""
from __future__ import annotations

import logging

from peewee import Database, OperationalError

from conversions.core.periods import month_start_ms, shift_month
from conversions.store import partitions
from conversions.store.models import Event
from conversions.store.partitions import TABLE, ddl_lock, month_of_name, months, partition_name

log = logging.getLogger(__name__)


def drop_months(database: Database, before_ms: int, received_before_ms: int,
                batch: int) -> int:
    """Drop each month that ends by ``before_ms`` and whose events were all received before
    ``received_before_ms`` (the rollups hold them); returns how many events went.

    A month is detached in one short transaction that checks again, under its lock, that the
    rollups hold its events; then its keys are deleted, ``batch`` events a transaction, and the
    table dropped. A month a stopped run left detached is finished by the next
    (docs/scaling.md, "The prune drops months").
    """
    for month in months(database):
        name = partition_name(month)
        if month_start_ms(shift_month(month, 1)) > before_ms:
            break
        if _holds_unaggregated(database, name, received_before_ms):
            continue
        try:
            with ddl_lock(database, partitions.LOCK_TIMEOUT) as transaction:
                database.execute_sql(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name}"')
                if _holds_unaggregated(database, name, received_before_ms):
                    transaction.rollback()
        except OperationalError as err:  # a lock not granted in time: the next run drops it
            if getattr(getattr(err, "orig", None), "sqlstate", None) != "55P03":
                raise
            log.warning("event partition not dropped: its lock was busy",
                        extra={"partition": name})
    dropped = 0
    for (name,) in database.execute_sql(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r' AND NOT relispartition AND starts_with(relname, %s)",
            (f"{TABLE}_p",)).fetchall():
        if month_of_name(name) is None:
            continue
        count = _delete_keys(database, name, batch)
        database.execute_sql(f'DROP TABLE "{name}"')
        log.info("event partition dropped", extra={"partition": name, "events": count})
        dropped += count
    return dropped


def _holds_unaggregated(database: Database, name: str, received_before_ms: int) -> bool:
    column = Event.received_at_ms.column_name
    return bool(database.execute_sql(
        f'SELECT EXISTS (SELECT 1 FROM "{name}" WHERE "{column}" >= %s)',
        (received_before_ms,)).fetchone()[0])


def _delete_keys(database: Database, name: str, batch: int) -> int:
    """Delete the keys of the events of table ``name``, ``batch`` events a transaction;
    returns how many events it holds."""
    last, events = 0, 0
    while True:
        with database.atomic():
            (last_id, seen) = database.execute_sql(
                f'WITH batch AS (SELECT id, tenant_id, source_type, dedup_key FROM "{name}" '
                "WHERE id > %s ORDER BY id LIMIT %s), "
                "gone AS (DELETE FROM event_key k USING batch b WHERE k.tenant_id = b.tenant_id"
                " AND k.source_type = b.source_type AND k.dedup_key = b.dedup_key "
                "AND k.event_id = b.id) SELECT max(id), count(*) FROM batch",
                (last, batch)).fetchone()
        events += seen
        if seen < batch:
            return events
        last = last_id
