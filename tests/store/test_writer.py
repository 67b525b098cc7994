"""Group commit: what a write is told is what is stored, once, even under concurrency."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import DatabaseError, SqliteDatabase

from conversions.store import prepared
from conversions.store.database import connection, database
from conversions.store.events import insert_event
from conversions.store.models import Event
from conversions.store.schema import create_schema
from conversions.store.writer.group_commit import GroupCommit
from tests.support import until


def row(tenant_id: str, key: str | None, name: str = "purchase") -> dict:
    return {"tenant": tenant_id, "source_type": "webhook", "signed": True, "event_name": name,
            "occurred_at_ms": 1, "received_at_ms": 1, "dedup_key": key}


def stored() -> dict[int, str | None]:
    """Committed rows, read from a thread of its own (so on a connection of its own)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_read).result()


def _read() -> dict[int, str | None]:
    with connection():
        return dict(Event.select(Event.id, Event.dedup_key).tuples())


def held_leader(writer: GroupCommit, gate: threading.Event, pool: ThreadPoolExecutor,
                work):
    """Start a write that leads and holds its commit open until ``gate`` is set."""
    def first():
        gate.wait(10)
        return work()

    future = pool.submit(writer.run, first)
    until(lambda: writer._leading and not writer._queue)
    return future


def test_concurrent_writes_are_all_stored_once_and_told_their_ids(app, tenant):
    keys = [f"id:{n % 150}" for n in range(400)]  # 150 distinct, many sent several times
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda key: (key, insert_event(row(tenant["tenant_id"],
                                                                         key))), keys))
    rows = stored()
    assert sorted(rows.values()) == sorted(set(keys))
    ids = {key: event_id for event_id, key in rows.items()}
    for key, (event_id, _) in answers:
        assert ids[key] == event_id
    new = [key for key, (_, duplicate) in answers if not duplicate]
    assert sorted(new) == sorted(set(keys))


def test_rows_without_a_key_are_each_stored(app, tenant):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: insert_event(row(tenant["tenant_id"], None)),
                                range(40)))
    assert sorted(event_id for event_id, _ in answers) == sorted(stored())
    assert not any(duplicate for _, duplicate in answers)


def test_writes_queued_during_a_commit_share_the_next_one(app, tenant):
    writer, gate = GroupCommit(), threading.Event()
    transactions = []

    def write(key: str):
        transactions.append(database.top_transaction())
        return prepared.insert_event(row(tenant["tenant_id"], key))

    with ThreadPoolExecutor(6) as pool:
        first = held_leader(writer, gate, pool, lambda: write("id:first"))
        queued = [pool.submit(writer.run, lambda n=n: write(f"id:{n}")) for n in range(4)]
        until(lambda: len(writer._queue) == 4)
        gate.set()
        results = [first.result(10)] + [future.result(10) for future in queued]
    assert [duplicate for _, duplicate in results] == [False] * 5
    assert sorted(stored().values()) == sorted(["id:first", "id:0", "id:1", "id:2", "id:3"])
    # The first write had its own transaction; the four queued during it shared the next.
    assert transactions[0] is not transactions[1]
    assert all(transaction is transactions[1] for transaction in transactions[1:])


@pytest.fixture
def deferred_sqlite(app, monkeypatch):
    """Deferred SQLite transactions for tests that hold a leader's transaction open.

    The service begins SQLite write transactions IMMEDIATE (tests/store/test_database.py
    says why), so a held leader would hold the write lock and no other connection could reach
    the states these tests check (a table dropped, a caller's own transaction begun).
    """
    with connection():
        if isinstance(database.obj, SqliteDatabase):
            monkeypatch.setattr(database.obj, "_lock_type", None)


def test_a_store_failure_reaches_every_waiting_write(app, tenant, deferred_sqlite):
    writer, gate = GroupCommit(), threading.Event()
    with ThreadPoolExecutor(6) as pool:
        first = held_leader(writer, gate, pool, lambda: prepared.insert_event(
            row(tenant["tenant_id"], "id:first")))
        queued = [pool.submit(writer.run, lambda n=n: prepared.insert_event(
            row(tenant["tenant_id"], f"id:{n}"))) for n in range(4)]
        until(lambda: len(writer._queue) == 4)
        with ThreadPoolExecutor(1) as other:  # the table disappears under the writer
            other.submit(lambda: _with_connection(Event.drop_table)).result()
        gate.set()
        for future in [first, *queued]:
            with pytest.raises(DatabaseError):
                future.result(10)
    create_schema()  # the table again, in the store's own layout
    assert stored() == {}


def test_one_broken_write_fails_alone(app, tenant):
    writer, gate = GroupCommit(), threading.Event()
    with ThreadPoolExecutor(6) as pool:
        first = held_leader(writer, gate, pool, lambda: prepared.insert_event(
            row(tenant["tenant_id"], "id:first")))
        good = [pool.submit(writer.run, lambda n=n: prepared.insert_event(
            row(tenant["tenant_id"], f"id:{n}"))) for n in range(3)]
        bad = pool.submit(writer.run, lambda: prepared.insert_event({"no_such_field": 1}))
        until(lambda: len(writer._queue) == 4)
        gate.set()
        assert first.result(10)[1] is False
        assert [future.result(10)[1] for future in good] == [False] * 3
        with pytest.raises(ValueError, match="no_such_field"):
            bad.result(10)
    assert sorted(stored().values()) == ["id:0", "id:1", "id:2", "id:first"]


class Undo(Exception):
    """Rolls a caller's transaction back."""


def test_a_write_inside_a_callers_transaction_stays_in_it(app, tenant, deferred_sqlite):
    """It neither waits for a group nor lets another request's write ride in (and roll back
    with) the caller's transaction."""
    writer, gate = GroupCommit(), threading.Event()

    def in_transaction_then_undo():
        with connection(), database.atomic():
            writer.run(lambda: prepared.insert_event(row(tenant["tenant_id"], "id:a")))
            raise Undo

    with ThreadPoolExecutor(6) as pool:
        first = held_leader(writer, gate, pool, lambda: prepared.insert_event(
            row(tenant["tenant_id"], "id:b")))
        caller = pool.submit(in_transaction_then_undo)
        until(lambda: caller.done() or len(writer._queue) == 1)
        other = pool.submit(writer.run, lambda: prepared.insert_event(
            row(tenant["tenant_id"], "id:c")))
        until(lambda: len(writer._queue) == (1 if caller.done() else 2))
        gate.set()
        with pytest.raises(Undo):
            caller.result(10)
        assert first.result(10)[1] is False
        assert other.result(10)[1] is False
    assert sorted(stored().values()) == ["id:b", "id:c"]


def _with_connection(action) -> None:
    with connection():
        action()


def durability_of(app) -> str:
    with connection():
        if database.obj.__class__.__name__.startswith("Pooled" + "Sqlite"):
            return {1: "NORMAL", 2: "FULL"}[database.execute_sql(
                "PRAGMA synchronous").fetchone()[0]]
        return database.execute_sql("SHOW synchronous_commit").fetchone()[0]


@pytest.mark.parametrize(("durability", "sqlite", "postgres"), [
    ("full", "FULL", "on"), ("normal", "NORMAL", "off"), ("FULL", "FULL", "on")])
def test_durability_setting_is_applied_to_every_connection(database_url, durability, sqlite,
                                                           postgres):
    from app import create_app

    app = create_app({"DATABASE_URL": database_url, "DURABILITY": durability,
                      "LOG_FORMAT": "text"})
    try:
        expected = sqlite if database_url.startswith("sqlite") else postgres
        assert durability_of(app) == expected
        with ThreadPoolExecutor(1) as pool:  # another thread, another pooled connection
            assert pool.submit(durability_of, app).result() == expected
    finally:
        database.close_all()


def test_an_unknown_durability_is_refused_at_start(database_url):
    from app import create_app

    with pytest.raises(ValueError, match="DURABILITY"):
        create_app({"DATABASE_URL": database_url, "DURABILITY": "sometimes"})


def test_a_transaction_postgres_rolled_back_as_a_deadlock_runs_again(app):
    """A deadlock (SQLSTATE 40P01) is transient: the group runs again instead of a 503."""
    from peewee import OperationalError

    from conversions.store.writer.group_commit import GroupCommit

    class Deadlock(Exception):
        sqlstate = "40P01"

    calls = []

    def work():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError(Deadlock("deadlock detected"))
        return "stored"

    assert GroupCommit().run(work) == "stored"
    assert len(calls) == 2


def test_other_store_failures_are_not_retried(app):
    from peewee import OperationalError

    from conversions.store.writer.group_commit import GroupCommit

    calls = []

    def work():
        calls.append(1)
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError):
        GroupCommit().run(work)
    assert len(calls) == 1
