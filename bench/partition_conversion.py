"""What migration 4 costs at size: the plain events table of schema version 3, holding ``N``
events over 90 days (``bench.scale``'s history), converted to the partitioned layout
(``python -m bench.partition_conversion [N]``; ``DATABASE_URL`` names the PostgreSQL server,
a new database is made there and dropped after). Prints the load time, the conversion time,
the table sizes before and after, and the load average.
"""
from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from app import create_app
from bench.scale import TENANTS, generate, store
from conversions.core import clock
from conversions.store import migrations, partitions, prepared
from conversions.store.database import connection, database
from conversions.store.models import MODELS
from conversions.store.schema import create_schema
from conversions.store.statements.events import EVENT_INSERT_PLAIN
from conversions.tenants import accounts


def size(table: str) -> str:
    return database.execute_sql("SELECT pg_size_pretty(pg_total_relation_size(%s))",
                                (table,)).fetchone()[0]


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory() as tmp, store(url, Path(tmp), "convert") as db_url:
        create_app({"DATABASE_URL": db_url, "SCHEDULER_ENABLED": False, "LOG_FORMAT": "text"})
        with connection():
            # Version 3's layout: Peewee's own plain table with its unique index.
            for table in reversed(database.get_tables()):
                database.execute_sql(f'DROP TABLE "{table}" CASCADE')
            database.create_tables(MODELS)
            with database.bind_ctx([migrations.SchemaVersion]):
                database.create_tables([migrations.SchemaVersion])
                for migration in migrations.MIGRATIONS[:3]:
                    migrations.SchemaVersion.create(version=migration.version,
                                                    name=migration.name, applied_at_ms=0)
            tenants = [accounts.create(f"t{n}.example", f"b{n}")["tenant_id"]
                       for n in range(TENANTS)]
            # bench.scale's history, stored as version 3 stored it: plain inserts.
            with mock.patch.object(prepared, "insert_new_events", lambda rows: (
                    EVENT_INSERT_PLAIN.run_many_values([prepared._values(row) for row in rows])
                    .rowcount, [])):
                loaded = generate(tenants, events, clock.now_ms(), random.Random(16))
            database.execute_sql('ANALYZE "event"')
            before = size("event")
        load = os.getloadavg()[0]
        started = time.monotonic()
        applied = create_schema()
        converted = time.monotonic() - started
        with connection():
            assert partitions.partitioned(database.obj), applied
            (count,) = database.execute_sql('SELECT count(*) FROM "event"').fetchone()
            months = len(partitions.months(database.obj))
            (after,) = database.execute_sql(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
                "WHERE inhparent = 'event'::regclass").fetchone()
            keys = size("event_key")
        print(f"{events:,} events loaded in {loaded:.1f} s; plain table {before}")
        print(f"converted {count:,} events into {months} months in {converted:.1f} s "
              f"(load {load:.2f} before, {os.getloadavg()[0]:.2f} after); "
              f"partitions {after}, event_key {keys}")


if __name__ == "__main__":
    main()
