"""The events table on PostgreSQL: partitioned by month of event time, each event kept once.

``event`` is ``PARTITION BY RANGE (occurred_at_ms)``: one partition a UTC month
(``event_pYYYY_MM``, ``[first ms of the month, first ms of the next)``), made ahead of time
(``ensure_months``: at start-up and by the prune job, from ``MONTHS_BACK`` months before the
current one to ``MONTHS_AHEAD`` after), and a DEFAULT partition that takes any other event
time, so an insert never fails for lack of a partition. A retention prune drops a month whose
events are all past the horizon and in the rollups (``drop_months``) instead of deleting its
rows, and each month's indexes cover only its own events.

PostgreSQL enforces a unique index on a partitioned table only when it holds the partition
key, and the event time is not part of an event's identity (a retried webhook may carry
another ``event_ts``). So the idempotency key lives in ``event_key`` (tenant, source, key ->
event id; tenant first, for Citus), whose primary key decides what is a duplicate: the
inserts of ``store.prepared`` store a keyed event's key first and the event under the id the
key took, in one statement (the bulk path: the keys claimed, then the events that claimed
one, in one transaction), so a duplicate stores nothing and is answered with the stored
event's id, exactly once across months and as concurrent writers agree. The events' primary
key is ``(id, occurred_at_ms)``; ids come from one sequence. SQLite keeps the plain table and
its unique index.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from peewee import (
    SQL,
    CharField,
    CompositeKey,
    Database,
    EnclosedNodeList,
    Entity,
    ForeignKeyField,
    IntegerField,
    OperationalError,
    PostgresqlDatabase,
    Tuple,
)

from conversions.core import clock
from conversions.store.models import BaseModel, Event, Tenant

log = logging.getLogger(__name__)

TABLE = Event._meta.table_name
DEFAULT = f"{TABLE}_default"
MONTHS_BACK = 3  # the oldest accepted event time (imports: 90 days) by default
MONTHS_AHEAD = 3
# The prune job waits at most this long for the brief lock that detaches a month, so it
# never holds up ingestion behind a long transaction; the month goes at the next run.
LOCK_TIMEOUT = "5s"
_LOCK_KEY = 0x65766E74  # "evnt": serialises the partitions' DDL across processes
# The events' ids, one sequence over every month: an id names one event.
SEQUENCE = f"{TABLE}_id_seq"


class EventKey(BaseModel):
    """The idempotency key of a stored event (PostgreSQL): the event it names."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    source_type = CharField(max_length=8)
    dedup_key = CharField(max_length=200)
    event_id = IntegerField()

    class Meta:
        primary_key = CompositeKey("tenant", "source_type", "dedup_key")


def partitioned(database: Database) -> bool:
    """Whether ``database`` holds the events in this module's partitioned layout."""
    if not isinstance(database, PostgresqlDatabase):
        return False
    return database.execute_sql("SELECT relkind = 'p' FROM pg_class WHERE oid = "
                                "to_regclass(%s)", (TABLE,)).fetchone() == (True,)


# Months, as UTC dates and as the Unix ms that bound them.

def month_of(ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.year, moment.month


def _shift(month: tuple[int, int], by: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 + by
    return index // 12, index % 12 + 1


def month_start_ms(month: tuple[int, int]) -> int:
    return int(datetime(month[0], month[1], 1, tzinfo=UTC).timestamp() * 1000)


def partition_name(month: tuple[int, int]) -> str:
    return f"{TABLE}_p{month[0]:04d}_{month[1]:02d}"


def _month_of_name(name: str) -> tuple[int, int] | None:
    """The month of a partition's name (``event_p2026_12``); None for another name."""
    year, _, month = name.removeprefix(f"{TABLE}_p").partition("_")
    if not (name.startswith(f"{TABLE}_p") and len(year) == 4 and year.isdigit()
            and len(month) == 2 and month.isdigit()):
        return None
    return int(year), int(month)


def months(database: Database) -> list[tuple[int, int]]:
    """The months that have their own partition, oldest first."""
    rows = database.execute_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)", (TABLE,)).fetchall()
    return sorted(m for (name,) in rows if (m := _month_of_name(name)) is not None)


# The statement that keeps each event once.

def keyed_insert(rows: int, given_ids: bool = False) -> str:
    """SQL storing ``rows`` events whose keys are all distinct: each key not stored yet is
    stored with the next id (``given_ids``: the row's own), then its event under that id;
    a row whose key is stored already stores nothing. Parameters: each row's columns but
    ``id`` in the model's order (``given_ids``: its id first); returns ``id, tenant, source,
    key`` of each event stored.

    The first row's values are cast to their columns' types, which the others take: a
    ``VALUES`` list takes none from where its rows go. (Casting them all would make the
    statement several times longer, and the driver splits it for parameters on each run.)
    """
    ctx = Event._schema._create_context()
    fields = [field for field in Event._meta.sorted_fields if field is not Event.id]
    columns = [f'"{field.column_name}"' for field in fields]
    types = [Event._schema._create_context().sql(field.ddl_datatype(ctx)).query()[0]
             for field in fields]
    ident = f'"{Event.id.column_name}"'
    values = [ident, *columns] if given_ids else columns
    types = ["INTEGER", *types] if given_ids else types
    typed = "(" + ", ".join(f"CAST(%s AS {kind})" for kind in types) + ")"
    plain = "(" + ", ".join(["%s"] * len(types)) + ")"
    key = '"tenant_id", "source_type", "dedup_key"'
    event_id = ident if given_ids else f"nextval('{SEQUENCE}')"
    rows_sql = ", ".join([typed] + [plain] * (rows - 1))
    return (f"WITH v ({', '.join(values)}) AS (VALUES {rows_sql}), "
            f'k AS (INSERT INTO "{EventKey._meta.table_name}" ({key}, "event_id") '
            f"SELECT {key}, {event_id} FROM v "
            f'ON CONFLICT DO NOTHING RETURNING {key}, "event_id") '
            f'INSERT INTO "{TABLE}" ({ident}, {", ".join(columns)}) '
            f'SELECT k."event_id", {", ".join("v." + c for c in columns)} '
            f"FROM v JOIN k USING ({key}) RETURNING {ident}, {key}")


# The layout.

def _table_sql() -> str:
    """``CREATE TABLE event (...) PARTITION BY RANGE``, the columns as the model declares them."""
    ctx = Event._schema._create_context()  # renders columns as DDL, unqualified
    columns = [SQL(f'"{Event.id.column_name}" SERIAL NOT NULL')]
    columns += [field.ddl(ctx) for field in Event._meta.sorted_fields if field is not Event.id]
    constraints = [Event.tenant.foreign_key_constraint(),
                   SQL(f'PRIMARY KEY ("{Event.id.column_name}", '
                       f'"{Event.occurred_at_ms.column_name}")')]
    ctx.literal("CREATE TABLE IF NOT EXISTS ").sql(Entity(TABLE)).literal(" ")
    ctx.sql(EnclosedNodeList(columns + constraints))
    ctx.literal(f' PARTITION BY RANGE ("{Event.occurred_at_ms.column_name}")')
    return ctx.query()[0]  # type: ignore[no-any-return]


def _create_indexes(database: Database) -> None:
    """The model's indexes but its unique idempotency one (``event_key`` holds that), on the
    parent: PostgreSQL builds them on every partition, present and future."""
    with database.bind_ctx([Event]):
        for index in Event._meta.fields_to_index():
            if not index._unique:
                database.execute(Event._schema._create_index(index, safe=True))


def _create_tables(database: Database) -> None:
    database.execute_sql(_table_sql())
    database.execute_sql(f'CREATE TABLE IF NOT EXISTS "{DEFAULT}" PARTITION OF "{TABLE}" DEFAULT')
    with database.bind_ctx([EventKey]):
        database.create_tables([EventKey], safe=True)


def create(database: Database, now_ms: int) -> None:
    """The partitioned events table, its key table, indexes and months, as missing
    (safe to run again); the tables events refer to exist already."""
    with _ddl(database):
        _create_tables(database)
        _create_indexes(database)
    ensure_months(database, now_ms)


@contextmanager
def _ddl(database: Database, lock_timeout: str | None = None) -> Iterator[Any]:
    """A transaction (or savepoint) holding the partitions' DDL to itself across processes;
    with ``lock_timeout``, one that gives up on a lock not granted in that time."""
    with database.atomic() as transaction:
        if lock_timeout:
            database.execute_sql(f"SET LOCAL lock_timeout = '{lock_timeout}'")
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        yield transaction


def _add_month(database: Database, month: tuple[int, int]) -> None:
    """Attach ``month``'s partition, first moving to it any events of that month the DEFAULT
    partition holds (else attaching would fail). ATTACH, unlike ``CREATE ... PARTITION OF``,
    does not lock inserts into the other partitions out."""
    name, low, high = partition_name(month), month_start_ms(month), month_start_ms(_shift(month, 1))
    column = Event.occurred_at_ms.column_name
    database.execute_sql(f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS '
                         "INCLUDING CONSTRAINTS)")
    moved = database.execute_sql(
        f'WITH moved AS (DELETE FROM "{DEFAULT}" WHERE "{column}" >= %s AND "{column}" < %s '
        f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved', (low, high)).rowcount
    database.execute_sql(f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" '
                         f"FOR VALUES FROM ({low}) TO ({high})")
    log.info("event partition added", extra={"partition": name, "moved_from_default": moved})


def ensure_months(database: Database, now_ms: int, first: tuple[int, int] | None = None,
                  lock_timeout: str | None = None) -> int:
    """Give every month from ``first`` (default: ``MONTHS_BACK`` before ``now_ms``'s) to
    ``MONTHS_AHEAD`` after ``now_ms``'s its partition; returns how many were added.
    Nothing on SQLite."""
    if not partitioned(database):
        return 0
    current = month_of(now_ms)
    month = first or _shift(current, -MONTHS_BACK)
    wanted = []
    while month <= _shift(current, MONTHS_AHEAD):
        wanted.append(month)
        month = _shift(month, 1)
    if set(wanted) <= set(months(database)):
        return 0
    with _ddl(database, lock_timeout):
        missing = sorted(set(wanted) - set(months(database)))  # again, under the lock
        for month in missing:
            _add_month(database, month)
    return len(missing)


# The retention prune's part: whole months dropped.

def drop_months(database: Database, before_ms: int, received_before_ms: int,
                batch: int) -> int:
    """Drop each month that ends by ``before_ms`` and whose events were all received before
    ``received_before_ms`` (the rollups hold them); returns how many events went.

    A month is detached first, in one short transaction that checks again under its lock that
    no event the rollups lack has arrived meanwhile, and that gives up (for the next run)
    rather than wait long for the lock; from then on no read sees its events. Then its keys
    are deleted, ``batch`` events a transaction, so a key is kept as long as its event and
    never longer, and the detached table dropped. A month a stopped run left detached is
    finished by the next.
    """
    for month in months(database):
        name = partition_name(month)
        if month_start_ms(_shift(month, 1)) > before_ms:
            break
        if _holds_unaggregated(database, name, received_before_ms):
            continue
        try:
            with _ddl(database, LOCK_TIMEOUT) as transaction:
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
        if _month_of_name(name) is None:
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


def delete_keys_of(database: Database, keys: list[tuple[str, str, str | None]]) -> None:
    """Delete the keys of events just deleted, ``(tenant, source, key)`` each (None: none)."""
    keys = [key for key in keys if key[2] is not None]
    if keys:
        EventKey.delete().where(Tuple(EventKey.tenant, EventKey.source_type,
                                      EventKey.dedup_key).in_(keys)).execute()


# The migration from the plain table (schema version 3 and before).

# A converted table's months start at its oldest event, at most this many months back; older
# events go to the DEFAULT partition.
CONVERT_MONTHS_BACK = 36
_COPY_BATCH = 250_000  # ids a copying statement takes, for progress in the log


def convert(database: Database) -> None:
    """Convert a plain events table to this layout, in the upgrade's transaction (the old
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
    first = _shift(month_of(now_ms), -CONVERT_MONTHS_BACK)
    oldest, top = database.execute_sql(
        f'SELECT min("{Event.occurred_at_ms.column_name}") FILTER (WHERE '
        f'"{Event.occurred_at_ms.column_name}" >= %s), max(id) FROM "{old}"',
        (month_start_ms(first),)).fetchone()
    with _ddl(database):
        _create_tables(database)
    usual = _shift(month_of(now_ms), -MONTHS_BACK)
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
    with _ddl(database):
        _create_indexes(database)
    database.execute_sql(f'DROP TABLE "{old}"')
    database.execute_sql(f'ANALYZE "{TABLE}", event_key')
