"""Schema versions: a database records the migrations it has; start-up applies the rest.

A new table or index needs no migration (``upgrade`` creates what the models declare and the
database lacks); a change to an existing table does: a ``Migration`` with the next version.
docs/architecture.md ("Changing the schema") says how to write one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from peewee import (
    SQL,
    BigIntegerField,
    BooleanField,
    CharField,
    Database,
    IntegerField,
    Model,
    PostgresqlDatabase,
)
from playhouse.migrate import SchemaMigrator, migrate

from conversions.core import clock
from conversions.store import generations, partition_conversion, partitions
from conversions.store.models import (
    AGGREGATE_CURSOR,
    DailyAggregate,
    DailyAttribution,
    Event,
    Generation,
    HourlyAggregate,
    HourlyAttribution,
    JobCursor,
)

log = logging.getLogger(__name__)

# Any fixed number: the PostgreSQL advisory lock that serialises concurrent upgrades.
_LOCK_KEY = 0x636F6E76  # "conv"


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``steps(migrator)`` returns the operations to run."""

    version: int
    name: str
    steps: Callable[[SchemaMigrator], Sequence[Any]]
    # Run after the steps on an existing database: data the new layout needs.
    data: Callable[[Database], None] | None = None


def _rebuild_rollups(database: Database) -> None:
    """Empty the rollups and move the aggregation cursor back to the start, in one
    transaction: the next aggregation runs, in bounded batches, add every event to the
    rollups again (the new ones included), and until then readers add the events since the
    cursor, so figures stay exact meanwhile. (No raw event was pruned before this version.)"""
    rollups = [HourlyAggregate, DailyAggregate, HourlyAttribution, DailyAttribution]
    with database.bind_ctx([JobCursor, *rollups]), database.atomic():
        for model in rollups:
            if model.table_exists():
                model.delete().execute()
        if JobCursor.table_exists():
            JobCursor.delete().where(JobCursor.name == AGGREGATE_CURSOR).execute()


def _move_rollup_changes(database: Database) -> None:
    """The count of recomputed rollup changes, kept until now in a ``JobCursor`` row's
    position, moved to its own counter (``generations.ROLLUP_CHANGES``)."""
    with database.bind_ctx([JobCursor, Generation]):
        database.create_tables([Generation], safe=True)
        if not JobCursor.table_exists():
            return
        old = JobCursor.get_or_none(JobCursor.name == _OLD_ROLLUP_CHANGES)
        if old is not None:
            Generation.insert(name=generations.ROLLUP_CHANGES, value=old.position_ms) \
                .on_conflict(conflict_target=[Generation.name],
                             update={Generation.value: Generation.value + old.position_ms}) \
                .execute()
            old.delete_instance()


def _lacks(migrator: SchemaMigrator, table: str) -> bool:
    """Whether ``table`` is there without a ``superseded`` column (a table an old layout
    lacks is made later, whole, as every new table is)."""
    return (table in migrator.database.get_tables()
            and "superseded" not in {c.name for c in migrator.database.get_columns(table)})


# The name of the JobCursor that counted rollup changes before version 5.
_OLD_ROLLUP_CHANGES = "rollup_changes"


# Version 1 is the layout the service first shipped with, before versions were recorded: a
# database that has its tables but no version table is taken to be at version 1.
MIGRATIONS: list[Migration] = [
    Migration(1, "initial layout", lambda migrator: []),
    Migration(2, "postback provider, status and estimated time on events", lambda migrator: [
        migrator.add_column("event", "provider", CharField(max_length=16, null=True)),
        migrator.add_column("event", "status", CharField(max_length=16, null=True)),
        migrator.add_column("event", "time_estimated", BooleanField(null=True)),
    ]),
    Migration(3, "attribution rollup, rebuilt with the hourly aggregates from the raw events",
              lambda migrator: [], data=_rebuild_rollups),
    Migration(4, "events partitioned by month of event time on PostgreSQL, keys apart",
              lambda migrator: [], data=partition_conversion.convert),
    Migration(5, "the rollup change counter a generation, not a job cursor",
              lambda migrator: [], data=_move_rollup_changes),
    Migration(6, "superseded reports counted apart in the count rollups", lambda migrator: [
        migrator.add_column(rollup, "superseded", BigIntegerField(default=0))
        for rollup in ("hourly_aggregate", "daily_aggregate") if _lacks(migrator, rollup)]),
]


class SchemaVersion(Model):
    """One applied migration."""

    version = IntegerField(primary_key=True)
    name = CharField(max_length=100)
    applied_at_ms = BigIntegerField()

    class Meta:
        table_name = "schema_version"


@contextmanager
def _exclusive(database: Database) -> Iterator[None]:
    """One transaction that holds the upgrade to itself, across processes and hosts."""
    if isinstance(database, PostgresqlDatabase):
        with database.atomic():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            yield
    else:  # SQLite: IMMEDIATE takes the write lock at BEGIN; others wait (busy timeout).
        with database.atomic("IMMEDIATE"):
            yield


def current_version(database: Database) -> int | None:
    """The newest version applied to ``database``; None when it records none."""
    with database.bind_ctx([SchemaVersion]):
        if not SchemaVersion.table_exists():
            return None
        return SchemaVersion.select(SchemaVersion.version).order_by(
            SchemaVersion.version.desc()).scalar()


def missing_columns(database: Database, models: Sequence[type[Model]]) -> dict[str, list[str]]:
    """Columns the models declare that the database's tables lack, by table."""
    missing = {}
    for model in models:
        # An empty SELECT * names a table's columns in one quick round trip on any database.
        cursor = database.execute(model.select(SQL("*")).limit(0))
        have = {column[0] for column in cursor.description}
        lacking = [f.column_name for f in model._meta.sorted_fields if f.column_name not in have]
        if lacking:
            missing[model._meta.table_name] = lacking
    return missing


def _create_tables(database: Database, models: Sequence[type[Model]], safe: bool) -> None:
    """The models' tables and indexes as missing; on PostgreSQL the events' own layout."""
    if isinstance(database, PostgresqlDatabase) and Event in models:
        database.create_tables([model for model in models if model is not Event], safe=safe)
        partitions.create(database, clock.now_ms())
    else:
        database.create_tables(models, safe=safe)


def upgrade(database: Database, models: Sequence[type[Model]],
            migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring ``database`` to the newest version; returns the versions applied now.

    A new database gets the models' tables with every version recorded; an existing one gets
    the migrations it lacks, then any new table or index. Safe to run again, and from many
    processes at once: the first upgrades, the others wait for it and find nothing to do.
    """
    with _exclusive(database), database.bind_ctx([SchemaVersion]):
        new = models[0]._meta.table_name not in database.get_tables()
        database.create_tables([SchemaVersion], safe=True)
        have = current_version(database) or 0
        if have > migrations[-1].version:
            log.warning("the database schema is newer than this code",
                        extra={"schema_version": have, "code_version": migrations[-1].version})
        pending = [m for m in migrations if m.version > have]
        if new:  # the newest layout at once: no step to run
            _create_tables(database, models, safe=False)
        migrator = SchemaMigrator.from_database(database)
        for migration in pending:
            if not new:
                migrate(*migration.steps(migrator))
                if migration.data is not None:
                    migration.data(database)
                log.info("schema migrated", extra={"schema_version": migration.version,
                                                   "migration": migration.name})
            SchemaVersion.insert(version=migration.version, name=migration.name,
                                 applied_at_ms=clock.now_ms()).execute()
        _create_tables(database, models, safe=True)
        lacking = missing_columns(database, models)
        if lacking:
            raise RuntimeError(f"the database lacks columns {lacking}: a change to an existing "
                               "table needs a migration in conversions/store/migrations.py")
    return [m.version for m in pending]
