"""Schema versions: new databases, in-place upgrades of older layouts, concurrent starts."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from peewee import AutoField, BooleanField, CharField, Model

from conversions.rollups import aggregation, attribution, figures
from conversions.store import generations, migrations, prepared
from conversions.store.database import connection, database
from conversions.store.migrations import MIGRATIONS, Migration
from conversions.store.models import (
    AGGREGATE_CURSOR,
    MODELS,
    DailyAttribution,
    Event,
    Generation,
    JobCursor,
    SigningKey,
    Tenant,
    TenantSetting,
)
from conversions.store.schema import create_schema
from conversions.tenants import accounts
from tests.support import ROOT, postgres_pass

HEAD = MIGRATIONS[-1].version

# The layout of the first release (commit 80e8cda), written out by hand as that code made it.
FIRST_LAYOUT = """
CREATE TABLE "tenant" ("id" VARCHAR(36) NOT NULL PRIMARY KEY, "domain" VARCHAR(253) NOT NULL,
  "buyer_id" VARCHAR(64), "created_at_ms" BIGINT NOT NULL);
CREATE UNIQUE INDEX "tenant_domain" ON "tenant" ("domain");
CREATE UNIQUE INDEX "tenant_buyer_id" ON "tenant" ("buyer_id");
CREATE TABLE "signing_key" ("id" {serial} NOT NULL PRIMARY KEY, "tenant_id" VARCHAR(36) NOT NULL,
  "kind" VARCHAR(8) NOT NULL, "secret" {blob} NOT NULL, "created_at_ms" BIGINT NOT NULL,
  "expires_at_ms" BIGINT,
  FOREIGN KEY ("tenant_id") REFERENCES "tenant" ("id") ON DELETE CASCADE);
CREATE INDEX "signing_key_tenant_id_kind" ON "signing_key" ("tenant_id", "kind");
CREATE TABLE "event" ("id" {serial} NOT NULL PRIMARY KEY, "tenant_id" VARCHAR(36) NOT NULL,
  "source_type" VARCHAR(8) NOT NULL, "signed" BOOLEAN NOT NULL, "event_name" VARCHAR(64) NOT NULL,
  "value_hundredths" BIGINT, "currency" VARCHAR(3), "session_id" VARCHAR(128), "properties" TEXT,
  "first_touch_bucket" VARCHAR(64), "first_touch_ts" VARCHAR(64), "first_touch_at_ms" BIGINT,
  "occurred_at_ms" BIGINT NOT NULL, "received_at_ms" BIGINT NOT NULL, "dedup_key" VARCHAR(200),
  FOREIGN KEY ("tenant_id") REFERENCES "tenant" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "event_tenant_id_source_type_dedup_key"
  ON "event" ("tenant_id", "source_type", "dedup_key");
CREATE TABLE "webhook_delivery" ("id" {serial} NOT NULL PRIMARY KEY,
  "tenant_id" VARCHAR(36) NOT NULL, "message_id" VARCHAR(255) NOT NULL,
  "received_at_ms" BIGINT NOT NULL, "event_count" BIGINT NOT NULL,
  FOREIGN KEY ("tenant_id") REFERENCES "tenant" ("id") ON DELETE CASCADE);
CREATE UNIQUE INDEX "webhook_delivery_tenant_id_message_id"
  ON "webhook_delivery" ("tenant_id", "message_id");
INSERT INTO "tenant" VALUES ('t-1', 'old.example', 'buyer-old', 1700000000000);
INSERT INTO "signing_key" ("tenant_id", "kind", "secret", "created_at_ms")
  VALUES ('t-1', 'pixel', {secret}, 1700000000000);
INSERT INTO "event" ("tenant_id", "source_type", "signed", "event_name", "value_hundredths",
  "currency", "occurred_at_ms", "received_at_ms", "dedup_key")
  VALUES ('t-1', 'pixel', FALSE, 'purchase', 1250, 'USD', 1700000000000, 1700000000001, 'id:e-1');
"""


def run_script(script: str) -> None:
    if postgres_pass():
        script = script.format(serial="SERIAL", blob="BYTEA", secret="'\\x00ff'::bytea")
    else:
        script = script.format(serial="INTEGER", blob="BLOB", secret="X'00ff'")
    for statement in script.split(";"):
        if statement.strip():
            database.execute_sql(statement)


def drop_every_table() -> None:
    """Leave the database as a new one; the next test's app creates the schema again."""
    tables = database.get_tables()
    children_first = [m._meta.table_name for m in reversed(MODELS)]
    for table in sorted(tables, key=lambda t: children_first.index(t)
                        if t in children_first else -1):
        cascade = " CASCADE" if postgres_pass() else ""
        database.execute_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')


@pytest.fixture
def empty_db(app):
    """The test's database with no table at all."""
    with connection():
        drop_every_table()
    yield
    with connection():
        drop_every_table()


def test_a_new_database_gets_every_table_and_records_every_version(app):
    with connection():
        assert migrations.current_version(database.obj) == HEAD
        assert migrations.missing_columns(database.obj, MODELS) == {}


def test_starting_again_applies_nothing(app):
    assert create_schema() == []


def test_the_first_layout_upgrades_in_place_without_losing_a_row(empty_db, client):
    with connection():
        run_script(FIRST_LAYOUT)
        assert "tenant_setting" not in database.get_tables()
    assert create_schema() == [m.version for m in MIGRATIONS]
    with connection():
        assert migrations.current_version(database.obj) == HEAD
        assert migrations.missing_columns(database.obj, MODELS) == {}
        tenant = Tenant.get_by_id("t-1")
        assert bytes(SigningKey.get(SigningKey.tenant == tenant).secret) == b"\x00\xff"
        event = Event.get(Event.tenant == tenant)
        assert (event.value, event.currency, event.signed) == (12.5, "USD", False)
        assert (event.provider, event.status, event.time_estimated) == (None, None, None)
        # The new table works, and the store still holds the old events to one copy.
        TenantSetting.create(tenant=tenant, name="rate_limit", value="5 per minute",
                             updated_at_ms=1)
        duplicate = {"tenant": "t-1", "source_type": "pixel", "signed": False,
                     "event_name": "purchase", "occurred_at_ms": 1, "received_at_ms": 2,
                     "dedup_key": "id:e-1"}
        assert prepared.insert_event(duplicate) == (event.id, True)
        assert Event.select().count() == 1
        created = accounts.create("new.example")
        assert Tenant.get_by_id(created["tenant_id"]).domain == "new.example"
    assert create_schema() == []


class Note(Model):
    """A table of this test's own, to migrate with a step ``MIGRATIONS`` does not have yet."""

    id = AutoField()
    text = CharField(max_length=50)
    pinned = BooleanField(default=False)


def test_a_migration_step_adds_a_column_once_and_keeps_the_rows(empty_db):
    # The first version (nothing to run) and a new step; the real ones need the real tables.
    steps = [MIGRATIONS[0], Migration(HEAD + 1, "notes can be pinned", lambda migrator: [
        migrator.add_column("note", "pinned", BooleanField(default=False))])]
    with connection(), database.bind_ctx([Note]):
        database.create_tables([Tenant])
        database.execute_sql('CREATE TABLE "note" ("id" INTEGER PRIMARY KEY, "text" VARCHAR(50))')
        database.execute_sql("INSERT INTO \"note\" (\"id\", \"text\") VALUES (1, 'kept')")
        with pytest.raises(RuntimeError,
                           match="needs a migration in conversions/store/migrations.py"):
            migrations.upgrade(database.obj, [Tenant, Note], steps[:1])
        assert migrations.upgrade(database.obj, [Tenant, Note], steps) == [
            m.version for m in steps]
        assert migrations.upgrade(database.obj, [Tenant, Note], steps) == []
        assert migrations.current_version(database.obj) == HEAD + 1
        assert [(n.text, n.pinned) for n in Note.select()] == [("kept", False)]


@pytest.mark.slow
def test_workers_starting_together_on_a_new_database_upgrade_it_once(empty_db, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "CONVERSIONS_LOG_FORMAT": "text"}
    starts = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "init-db"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
              for _ in range(3)]
    outputs = [start.communicate(timeout=60)[0].decode() for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], outputs
    assert all(f"schema version {HEAD}" in output for output in outputs)
    with connection(), database.bind_ctx([migrations.SchemaVersion]):
        versions = [row.version for row in migrations.SchemaVersion.select()]
    assert sorted(versions) == [m.version for m in MIGRATIONS]


def test_a_database_of_version_2_gets_its_attribution_rollup_built_from_its_events(app):
    with connection():
        created = accounts.create("shop.example")
        Event.create(tenant=created["tenant_id"], source_type="goal", signed=True,
                     event_name="purchase", value_hundredths=1250, currency="USD",
                     occurred_at_ms=1_700_000_000_000, received_at_ms=1_700_000_000_000,
                     dedup_key="sig:1")
        aggregation.aggregate(1_700_000_100_000)
        # As version 2 left it: aggregated, with no attribution rollup.
        database.execute_sql('DROP TABLE "daily_attribution"')
        database.execute_sql('DELETE FROM "schema_version" WHERE "version" >= 3')
        assert aggregation.cursor_ms() == 1_700_000_100_000
    assert create_schema() == [m.version for m in MIGRATIONS if m.version >= 3]
    with connection():
        assert not JobCursor.select().where(JobCursor.name == AGGREGATE_CURSOR).exists()
        report = attribution.report(created["tenant_id"], 1_699_900_000_000, 1_700_100_000_000)
        assert report["buckets"]["unattributed"]["revenue"] == {"USD": "12.50"}  # the tail
        by_day = figures.by_period(created["tenant_id"], 1_699_920_000_000, 1_700_006_400_000,
                                   "day")
        assert sum(events for events, _, _ in by_day.values()) == 1
        aggregation.aggregate(1_700_000_100_000)
        assert DailyAttribution.select().count() == 1
        assert attribution.report(created["tenant_id"], 1_699_900_000_000,
                                  1_700_100_000_000) == report
        assert figures.by_period(created["tenant_id"], 1_699_920_000_000, 1_700_006_400_000,
                                 "day") == by_day  # counted once, not added again


def test_a_database_of_version_4_keeps_its_rollup_change_count_as_a_generation(app):
    with connection():
        # As version 4 left it: the count in a job cursor's position.
        JobCursor.insert(name="rollup_changes", position_ms=7).execute()
        Generation.delete().where(Generation.name == generations.ROLLUP_CHANGES).execute()
        database.execute_sql('DELETE FROM "schema_version" WHERE "version" >= 5')
    assert create_schema() == [m.version for m in MIGRATIONS if m.version >= 5]
    with connection():
        assert not JobCursor.select().where(JobCursor.name == "rollup_changes").exists()
        assert generations.current(generations.ROLLUP_CHANGES) == 7
        aggregation.refresh_event("no-such-tenant", 1_700_000_000_000, "pixel", False)
        assert generations.current(generations.ROLLUP_CHANGES) == 8
