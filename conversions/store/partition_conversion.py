"""The one-off conversion of a plain PostgreSQL events table (schema version 3 and before) to
the partitioned layout of ``store.partitions`` (schema version 4)."""
from __future__ import annotations

import logging

from peewee import Database, PostgresqlDatabase

from conversions.core import clock
from conversions.core.periods import month_of, month_start_ms, shift_month
from conversions.store.models import Event
from conversions.store.partitions import (
    MONTHS_BACK,
    TABLE,
    create_indexes,
    create_tables,
    ddl_lock,
    ensure_months,
    partitioned,
)

log = logging.getLogger(__name__)

# A converted table's months start at its oldest event, at most this many months back; older
# events go to the DEFAULT partition.
CONVERT_MONTHS_BACK = 36
_COPY_BATCH = 250_000  # ids a copying statement takes, for progress in the log


def convert(database: Database) -> None:
    """Convert a plain events table to the partitioned layout, in the upgrade's transaction (the old
    table locked throughout, so nothing is written meanwhile; a failure leaves it as it was).

    The rows are copied by id range with their ids, the sequence goes on from where it was,
    the keys are rebuilt from the rows, the indexes built once the rows are in, the old table
    dropped. Nothing on SQLite, or when the table is partitioned already.
    """
    if not isinstance(database, PostgresqlDatabase) or partitioned(database):
        return
    old = f"{TABLE}_unpartitioned"
    database.execute_sql(f'LOCK TABLE "{TABLE}" IN ACCESS EXCLUSIVE MODE')
    # The new layout takes the old names: the old table, its sequence and indexes step aside.
    (sequence,) = database.execute_sql("SELECT pg_get_serial_sequence(%s, %s)",
                                       (f'"{TABLE}"', Event.id.column_name)).fetchone()
    database.execute_sql(f"ALTER SEQUENCE {sequence} RENAME TO {old}_id_seq")  # dropped with it
    for (index,) in database.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = %s", (TABLE,)).fetchall():
        database.execute_sql(f'ALTER INDEX "{index}" RENAME TO "{index}_unpartitioned"')
    database.execute_sql(f'ALTER TABLE "{TABLE}" RENAME TO "{old}"')
    now_ms = clock.now_ms()
    first = shift_month(month_of(now_ms), -CONVERT_MONTHS_BACK)
    oldest, top = database.execute_sql(
        f'SELECT min("{Event.occurred_at_ms.column_name}") FILTER (WHERE '
        f'"{Event.occurred_at_ms.column_name}" >= %s), max(id) FROM "{old}"',
        (month_start_ms(first),)).fetchone()
    with ddl_lock(database):
        create_tables(database)
    usual = shift_month(month_of(now_ms), -MONTHS_BACK)
    ensure_months(database, now_ms, first=usual if oldest is None else min(usual, month_of(oldest)))
    columns = ", ".join(f'"{field.column_name}"' for field in Event._meta.sorted_fields)
    for start in range(0, top or 0, _COPY_BATCH):
        database.execute_sql(f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM "{old}" '
                             "WHERE id > %s AND id <= %s", (start, start + _COPY_BATCH))
        log.info("events copied to the partitioned table",
                 extra={"up_to_id": min(start + _COPY_BATCH, top), "of": top})
    database.execute_sql(
        "INSERT INTO event_key (tenant_id, source_type, dedup_key, event_id) "
        f'SELECT tenant_id, source_type, dedup_key, id FROM "{old}" WHERE dedup_key IS NOT NULL')
    database.execute_sql(
        "SELECT setval(pg_get_serial_sequence(%s, %s), last_value, is_called) "
        f"FROM {old}_id_seq", (f'"{TABLE}"', Event.id.column_name))
    with ddl_lock(database):
        create_indexes(database)
    database.execute_sql(f'DROP TABLE "{old}"')
    database.execute_sql(f'ANALYZE "{TABLE}", event_key')
