"""The events table on PostgreSQL: partitioned by month of event time, each event kept once.

One partition a UTC month, made ahead (``ensure_months``), and a DEFAULT partition for any
other event time; the key of each event lives in ``event_key`` (``store.event_keys``), as a
unique index on a partitioned table must hold the partition key. SQLite keeps the plain
table. docs/scaling.md ("PostgreSQL: the events partitioned by month") has the layout.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import (
    SCOPE_VALUES,
    SQL,
    Database,
    EnclosedNodeList,
    Entity,
    ModelIndex,
    PostgresqlDatabase,
    SchemaManager,
)

from conversions.core.periods import Month, month_of, month_start_ms, shift_month
from conversions.store.event_keys import EventKey
from conversions.store.models import Event

log = logging.getLogger(__name__)

TABLE = Event._meta.table_name
DEFAULT = f"{TABLE}_default"
MONTHS_BACK = 3  # the oldest accepted event time (imports: 90 days) by default
MONTHS_AHEAD = 3
# The prune job waits at most this long for the brief lock that detaches a month, so it
# never holds up ingestion behind a long transaction; the month goes at the next run.
LOCK_TIMEOUT = "5s"
_LOCK_KEY = 0x65766E74  # "evnt": serialises the partitions' DDL across processes


def partitioned(database: Database) -> bool:
    """Whether ``database`` holds the events in this module's partitioned layout."""
    if not isinstance(database, PostgresqlDatabase):
        return False
    return database.execute_sql("SELECT relkind = 'p' FROM pg_class WHERE oid = "
                                "to_regclass(%s)", (TABLE,)).fetchone() == (True,)


def partition_name(month: Month) -> str:
    return f"{TABLE}_p{month[0]:04d}_{month[1]:02d}"


def month_of_name(name: str) -> Month | None:
    """The month of a partition's name (``event_p2026_12``); None for another name."""
    year, _, month = name.removeprefix(f"{TABLE}_p").partition("_")
    if not (name.startswith(f"{TABLE}_p") and len(year) == 4 and year.isdigit()
            and len(month) == 2 and month.isdigit()):
        return None
    return int(year), int(month)


def months(database: Database) -> list[Month]:
    """The months that have their own partition, oldest first."""
    rows = database.execute_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)", (TABLE,)).fetchall()
    return sorted(m for (name,) in rows if (m := month_of_name(name)) is not None)


def _table_sql(database: Database) -> str:
    """``CREATE TABLE event (...) PARTITION BY RANGE``, the columns as the model declares them
    and in its order (``id`` first: PostgreSQL reads a row's columns up to the one it needs)."""
    ctx = database.get_sql_context(scope=SCOPE_VALUES)  # names unqualified, as DDL wants them
    columns = [SQL(f'"{Event.id.column_name}" SERIAL NOT NULL')]
    columns += [field.ddl(ctx) for field in Event._meta.sorted_fields if field is not Event.id]
    constraints = [Event.tenant.foreign_key_constraint(),
                   SQL(f'PRIMARY KEY ("{Event.id.column_name}", '
                       f'"{Event.occurred_at_ms.column_name}")')]
    ctx.literal("CREATE TABLE IF NOT EXISTS ").sql(Entity(TABLE)).literal(" ")
    ctx.sql(EnclosedNodeList(columns + constraints))
    ctx.literal(f' PARTITION BY RANGE ("{Event.occurred_at_ms.column_name}")')
    return ctx.query()[0]  # type: ignore[no-any-return]


def _indexes() -> list[ModelIndex]:
    """The model's indexes but its unique key (``event_key`` holds that)."""
    fields = [(field,) for field in Event._meta.sorted_fields if field.index and not field.unique]
    declared = [tuple(Event._meta.fields[name] for name in names)
                for names, unique in Event._meta.indexes if not unique]
    return [ModelIndex(Event, index) for index in fields + declared]


def create_indexes(database: Database) -> None:
    """The events' indexes on the parent: PostgreSQL builds them on every partition, present
    and future."""
    for index in _indexes():
        database.execute(index.safe(True))


def create_tables(database: Database) -> None:
    """The partitioned events table, its DEFAULT partition and the key table, as missing."""
    database.execute_sql(_table_sql(database))
    database.execute_sql(f'CREATE TABLE IF NOT EXISTS "{DEFAULT}" PARTITION OF "{TABLE}" DEFAULT')
    SchemaManager(EventKey, database).create_all(safe=True)


def create(database: Database, now_ms: int) -> None:
    """The partitioned events table, its key table, indexes and months, as missing
    (safe to run again); the tables events refer to exist already."""
    with ddl_lock(database):
        create_tables(database)
        create_indexes(database)
    ensure_months(database, now_ms)


@contextmanager
def ddl_lock(database: Database, lock_timeout: str | None = None) -> Iterator[Any]:
    """A transaction (or savepoint) holding the partitions' DDL to itself across processes;
    with ``lock_timeout``, one that gives up on a lock not granted in that time."""
    with database.atomic() as transaction:
        if lock_timeout:
            database.execute_sql(f"SET LOCAL lock_timeout = '{lock_timeout}'")
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        yield transaction


def _add_month(database: Database, month: Month) -> None:
    """Attach ``month``'s partition, first moving to it any events of that month the DEFAULT
    partition holds (else attaching would fail). ATTACH, unlike ``CREATE ... PARTITION OF``,
    does not lock inserts into the other partitions out."""
    name = partition_name(month)
    low, high = month_start_ms(month), month_start_ms(shift_month(month, 1))
    column = Event.occurred_at_ms.column_name
    database.execute_sql(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS '
                         "INCLUDING CONSTRAINTS)")
    moved = database.execute_sql(
        f'WITH moved AS (DELETE FROM "{DEFAULT}" WHERE "{column}" >= %s AND "{column}" < %s '
        f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved', (low, high)).rowcount
    database.execute_sql(f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" '
                         f"FOR VALUES FROM ({low}) TO ({high})")
    log.info("event partition added", extra={"partition": name, "moved_from_default": moved})


def ensure_months(database: Database, now_ms: int, first: Month | None = None,
                  lock_timeout: str | None = None) -> int:
    """Give every month from ``first`` (default: ``MONTHS_BACK`` before ``now_ms``'s) to
    ``MONTHS_AHEAD`` after ``now_ms``'s its partition; returns how many were added.
    Nothing on SQLite."""
    if not partitioned(database):
        return 0
    current = month_of(now_ms)
    month = first or shift_month(current, -MONTHS_BACK)
    wanted = []
    while month <= shift_month(current, MONTHS_AHEAD):
        wanted.append(month)
        month = shift_month(month, 1)
    if set(wanted) <= set(months(database)):
        return 0
    with ddl_lock(database, lock_timeout):
        missing = sorted(set(wanted) - set(months(database)))  # again, under the lock
        for month in missing:
            _add_month(database, month)
    return len(missing)
