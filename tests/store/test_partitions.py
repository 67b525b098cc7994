"""The events table on PostgreSQL: months made ahead, a DEFAULT partition for any other time,
each key stored once across months, whole months dropped by the prune, and the plain table of
schema version 3 converted in place."""
from __future__ import annotations

import pytest

from conversions.core import clock
from conversions.core.periods import month_of, month_start_ms, shift_month
from conversions.rollups import aggregation
from conversions.store import migrations, partition_retention, partitions, prepared, retention
from conversions.store.database import connection, database
from conversions.store.event_keys import EventKey
from conversions.store.events import insert_batch, insert_event, stored_keys
from conversions.store.models import (
    AGGREGATE_CURSOR,
    MODELS,
    DailyAttribution,
    Event,
    HourlyAggregate,
    JobCursor,
)
from conversions.store.partitions import DEFAULT
from conversions.store.schema import create_schema
from conversions.tenants import accounts

from .test_migrations import drop_every_table

pytestmark = pytest.mark.postgres

HOUR_MS = 3_600_000


def at(month: tuple[int, int], hours: int = 1) -> int:
    """A time ``hours`` into ``month``."""
    return month_start_ms(month) + hours * HOUR_MS


def event(tenant_id: str, key: str | None, occurred_ms: int, received_ms: int | None = None,
          source: str = "webhook", **fields) -> dict:
    return {"tenant": tenant_id, "source_type": source, "signed": source == "goal",
            "event_name": "purchase", "occurred_at_ms": occurred_ms,
            "received_at_ms": occurred_ms if received_ms is None else received_ms,
            "dedup_key": key, **fields}


def partition_of(event_id: int) -> str:
    return database.execute_sql('SELECT tableoid::regclass::text FROM "event" WHERE id = %s',
                                (event_id,)).fetchone()[0]


def keys() -> dict[tuple[str, str, str], int]:
    return {(k.tenant_id, k.source_type, k.dedup_key): k.event_id for k in EventKey.select()}


def test_a_new_database_has_the_months_around_now_and_a_default(app):
    current = month_of(clock.now_ms())
    with connection():
        assert partitions.partitioned(database.obj)
        expected = [shift_month(current, n)
                    for n in range(-partitions.MONTHS_BACK, partitions.MONTHS_AHEAD + 1)]
        assert partitions.months(database.obj) == expected
        assert partitions.ensure_months(database.obj, clock.now_ms()) == 0


def test_an_event_of_any_time_is_stored_the_default_taking_months_without_their_own(
        app, tenant):
    now = clock.now_ms()
    with connection():
        inside, _ = insert_event(event(tenant["tenant_id"], "id:now", now))
        ancient, _ = insert_event(event(tenant["tenant_id"], "id:1970", 1, received_ms=now))
        future, _ = insert_event(event(tenant["tenant_id"], "id:2100", 4_102_444_800_000,
                                       received_ms=now))
        assert partition_of(inside) == partitions.partition_name(month_of(now))
        assert partition_of(ancient) == partition_of(future) == DEFAULT
        assert Event.select().count() == 3


def test_a_month_added_later_takes_its_events_from_the_default(app, tenant):
    now = clock.now_ms()
    later = shift_month(month_of(now), 12)
    with connection():
        first, _ = insert_event(event(tenant["tenant_id"], "id:later", at(later)))
        assert partition_of(first) == DEFAULT
        assert partitions.ensure_months(database.obj, at(later)) == 7  # 3 months either side
        assert partition_of(first) == partitions.partition_name(later)
        assert insert_event(event(tenant["tenant_id"], "id:later", at(later, 5))) == (first, True)
        assert Event.select().count() == 1


def test_a_key_is_stored_once_across_months_and_answers_with_the_first_event(app, tenant):
    now = clock.now_ms()
    this, before = month_of(now), shift_month(month_of(now), -2)
    other = accounts.create("other.example.com", "other-buyer")["tenant_id"]
    tenant_id = tenant["tenant_id"]
    with connection():
        first, duplicate = insert_event(event(tenant_id, "id:a", at(this)))
        assert duplicate is False
        # The same key with another event time (a retried webhook's event_ts), in another
        # month and in the DEFAULT partition: the first event, stored once.
        assert insert_event(event(tenant_id, "id:a", at(before))) == (first, True)
        assert insert_event(event(tenant_id, "id:a", 1)) == (first, True)
        answer = insert_batch([event(tenant_id, "id:a", at(before, 9)),
                               event(tenant_id, "id:b", at(before)),
                               event(tenant_id, "id:b", at(this, 3)),
                               event(tenant_id, "id:a", at(this), source="pixel"),
                               event(other, "id:a", at(this))])
        assert answer[0] == (first, True)
        assert answer[2] == (answer[1][0], True)
        assert [duplicate for _, duplicate in answer] == [True, False, True, False, False]
        count, stored = prepared.insert_new_events([event(tenant_id, "id:b", at(this, 7)),
                                                    event(tenant_id, "id:c", at(this, 7)),
                                                    event(tenant_id, "id:d", at(this, 8)),
                                                    event(tenant_id, "id:d", at(before, 8)),
                                                    event(tenant_id, None, at(this, 9))])
        assert count == 3
        assert Event.select().count() == 7
        assert keys() == {(e.tenant_id, e.source_type, e.dedup_key): e.id
                          for e in Event.select() if e.dedup_key is not None}
        # The keyed rows stored, with the ids they were stored under (settlement's input).
        assert [(row["dedup_key"], event_id) for row, event_id in stored] == [
            (e.dedup_key, e.id) for e in Event.select().where(
                Event.dedup_key.in_(["id:c", "id:d"])).order_by(Event.dedup_key)]
        assert stored_keys(tenant_id, "webhook", ["id:a", "id:b", "id:z"]) == {"id:a", "id:b"}


def test_an_event_moved_to_another_month_keeps_its_key(app, tenant):
    now = clock.now_ms()
    with connection():
        moved, _ = insert_event(event(tenant["tenant_id"], "id:m", at(month_of(now))))
        Event.update(occurred_at_ms=at(shift_month(month_of(now), -1))).where(
            Event.id == moved).execute()
        assert partition_of(moved) == partitions.partition_name(
            shift_month(month_of(now), -1))
        assert keys() == {(tenant["tenant_id"], "webhook", "id:m"): moved}


def test_the_prune_drops_whole_months_and_deletes_the_rest_with_their_keys(app, tenant):
    """Months before the horizon go whole; the month at the horizon, an older month holding an
    event the rollups lack yet and the DEFAULT partition are pruned row by row."""
    now = clock.now_ms()
    this = month_of(now)
    months = [shift_month(this, -n) for n in (8, 7, 6, 5)]
    tenant_id = tenant["tenant_id"]
    with connection():
        partitions.ensure_months(database.obj, now, first=months[0])
        for index, month in enumerate(months):
            for hour in range(3):
                insert_event(event(tenant_id, f"id:{index}-{hour}", at(month, hour),
                                   source="goal"))
        insert_event(event(tenant_id, None, at(months[1], 9)))  # no key
        insert_event(event(tenant_id, "id:1970", 1))  # the DEFAULT partition
        cursor = at(this)
        late = insert_event(event(tenant_id, "id:late", at(months[2]), received_ms=cursor))[0]
        horizon = at(months[3], 24)  # a day into the last month
        kept_key = insert_event(event(tenant_id, "id:kept", horizon + 1))[0]
        assert retention.prune_events(horizon, cursor, batch=2) == 3 + 4 + 1 + 3 + 3
        # The late event's month and the horizon's stay.
        assert [m for m in months if m in partitions.months(database.obj)] == months[2:]
        assert sorted(e.id for e in Event.select()) == [late, kept_key]
        assert keys() == {(tenant_id, "webhook", "id:late"): late,
                          (tenant_id, "webhook", "id:kept"): kept_key}
        # The keys of pruned events are free, as on SQLite; the kept ones still hold.
        assert insert_event(event(tenant_id, "id:kept", now))[1] is True
        assert insert_event(event(tenant_id, "id:0-0", at(months[0]), source="goal"))[1] is False


def old_layout() -> None:
    """Schema version 3 as it was made: the plain events table with its unique index."""
    drop_every_table()
    database.create_tables(MODELS)  # Peewee's own layout: what versions 1 to 3 made
    with database.bind_ctx([migrations.SchemaVersion]):
        database.create_tables([migrations.SchemaVersion])
        for migration in migrations.MIGRATIONS[:3]:
            migrations.SchemaVersion.create(version=migration.version, name=migration.name,
                                            applied_at_ms=0)


def rollups() -> tuple[list, list]:
    def rows(model):
        return sorted(tuple(v for k, v in row.items() if k != "id")
                      for row in model.select().dicts())
    return rows(HourlyAggregate), rows(DailyAttribution)


def rebuild_rollups(end_ms: int) -> tuple[list, list]:
    HourlyAggregate.delete().execute()
    DailyAttribution.delete().execute()
    JobCursor.delete().where(JobCursor.name == AGGREGATE_CURSOR).execute()
    aggregation.aggregate(end_ms)
    return rollups()


@pytest.fixture
def empty_db(app):
    yield
    with connection():
        drop_every_table()


def test_the_plain_table_of_version_3_converts_with_every_row_key_and_figure(empty_db):
    now = clock.now_ms()
    this = month_of(now)
    with connection():
        old_layout()
        assert not partitions.partitioned(database.obj)
        tenant_id = accounts.create("old.example", "old-buyer")["tenant_id"]
        for n in range(300):  # 14 months back to now, every source, some without a key
            month = shift_month(this, -(n % 15))
            source = ("goal", "webhook", "pixel", "postback")[n % 4]
            Event.insert(**event(tenant_id, None if n % 7 == 0 else f"id:{n}",
                                 at(month, n % 200), source=source,
                                 value_hundredths=100 + n, currency="USD",
                                 first_touch_bucket="search" if source == "goal" else None,
                                 first_touch_at_ms=at(month) - 60_000 if n % 2 else None,
                                 status="approved" if source == "postback" else None)).execute()
        Event.insert(**event(tenant_id, "id:ancient", 1, received_ms=now)).execute()
        Event.delete().where(Event.dedup_key == "id:1").execute()  # the sequence is ahead
        before = {row["id"]: row for row in Event.select().dicts()}
        (last_id,) = database.execute_sql("SELECT last_value FROM event_id_seq").fetchone()
        figures = rebuild_rollups(now + 1)
    assert create_schema() == [m.version for m in migrations.MIGRATIONS if m.version >= 4]
    with connection():
        assert partitions.partitioned(database.obj)
        assert {row["id"]: row for row in Event.select().dicts()} == before
        assert keys() == {(r["tenant"], r["source_type"], r["dedup_key"]): i
                          for i, r in before.items() if r["dedup_key"] is not None}
        months = partitions.months(database.obj)
        assert months[0] == shift_month(this, -14)
        assert months[-1] == shift_month(this, partitions.MONTHS_AHEAD)
        ancient = next(i for i, r in before.items() if r["dedup_key"] == "id:ancient")
        assert partition_of(ancient) == DEFAULT
        assert rebuild_rollups(now + 1) == figures
        # Duplicates of converted events are refused with their ids; ids go on after the old.
        assert insert_event(event(tenant_id, "id:new", now)) == (last_id + 1, False)
        stored = next(r for r in before.values() if r["dedup_key"] == "id:2")
        assert insert_event(event(tenant_id, "id:2", now, source=stored["source_type"])) == (
            stored["id"], True)
        assert migrations.missing_columns(database.obj, MODELS) == {}
        indexes = {name for (name,) in database.execute_sql(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s",
            (partitions.partition_name(this),)).fetchall()}
        assert len(indexes) == 5  # the primary key and the model's four other indexes
    assert create_schema() == []


def test_a_month_whose_lock_is_busy_is_left_for_the_next_prune(app, tenant, database_url,
                                                               monkeypatch):
    import psycopg

    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "100ms")
    now = clock.now_ms()
    old = shift_month(month_of(now), -8)
    with connection():
        partitions.ensure_months(database.obj, now, first=old)
        insert_event(event(tenant["tenant_id"], "id:old", at(old)))
        with psycopg.connect(database_url) as reader:  # a long read holds the events table
            reader.execute('SELECT count(*) FROM "event"').fetchone()
            assert partition_retention.drop_months(database.obj, at(month_of(now)), now, 10) == 0
        assert old in partitions.months(database.obj)
        assert list(keys()) == [(tenant["tenant_id"], "webhook", "id:old")]  # with its event
        assert partition_retention.drop_months(database.obj, at(month_of(now)), now, 10) == 1
        assert old not in partitions.months(database.obj)
        assert keys() == {}


def test_a_month_a_stopped_prune_left_detached_is_dropped_with_its_keys(app, tenant):
    now = clock.now_ms()
    old, kept = shift_month(month_of(now), -9), shift_month(month_of(now), -8)
    with connection():
        partitions.ensure_months(database.obj, now, first=old)
        for month in (old, kept):
            insert_event(event(tenant["tenant_id"], f"id:{month}", at(month)))
        database.execute_sql(f'ALTER TABLE "event" DETACH PARTITION '
                             f'"{partitions.partition_name(old)}"')
        assert partition_retention.drop_months(database.obj, month_start_ms(old), now, 10) == 1
        assert database.execute_sql("SELECT to_regclass(%s)", (
            partitions.partition_name(old),)).fetchone() == (None,)
        assert list(keys()) == [(tenant["tenant_id"], "webhook", f"id:{kept}")]
