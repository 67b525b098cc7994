"""The database from ``DATABASE_URL``: a pool sized by ``DB_POOL_SIZE``, a connection a request."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playhouse.pool import MaxConnectionsExceeded

from app import create_app
from conversions.store.database import database


@pytest.fixture
def small_pool(database_url):
    app = create_app({"DATABASE_URL": database_url, "DB_POOL_SIZE": 2, "LOG_FORMAT": "text"})
    yield app
    database.close_all()


def in_new_thread(action):
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(action).result()


def test_the_pool_holds_at_most_db_pool_size_connections(small_pool):
    opened, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        database.connect()
        opened.wait()
        release.wait()
        database.close()

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    opened.wait()
    try:
        with pytest.raises(MaxConnectionsExceeded):
            in_new_thread(database.connect)
    finally:
        release.set()
        for holder in holders:
            holder.join()
    in_new_thread(lambda: (database.connect(), database.close()))


def test_each_request_gives_its_connection_back(small_pool):
    client = small_pool.test_client()
    # Each request in a thread of its own: a connection kept by one would exhaust the pool.
    statuses = [in_new_thread(lambda: client.get("/healthz").status_code) for _ in range(5)]
    assert statuses == [200] * 5


@pytest.mark.postgres
def test_postgresql_urls_are_served_by_psycopg_3(app):
    import psycopg

    with database.connection_context():
        assert isinstance(database.connection(), psycopg.Connection)


def test_sqlite_write_transactions_wait_for_another_process_instead_of_failing(tmp_path):
    """A read-then-write transaction (a rotation) while another connection keeps committing,
    as the service's workers do when the CLI rotates a secret: it waits, it never fails."""
    import sqlite3

    from conversions.store.database import connection
    from conversions.tenants import accounts

    path = tmp_path / "shared.db"
    create_app({"DATABASE_URL": f"sqlite:///{path}", "LOG_FORMAT": "text"})
    with connection():
        tenant = accounts.create("shop.example.com", "buyer-1")
    stop = threading.Event()

    def other_process_writes() -> None:
        other = sqlite3.connect(path, isolation_level=None, timeout=5)
        while not stop.is_set():
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE tenant SET created_at_ms = created_at_ms + 1")
            other.execute("COMMIT")
            time.sleep(0.001)  # as a busy worker does; a writer that never pauses starves all
        other.close()

    writer = threading.Thread(target=other_process_writes)
    writer.start()
    try:
        for _ in range(50):
            with connection():
                accounts.rotate(tenant["tenant_id"], "webhook", 10)
    finally:
        stop.set()
        writer.join()
        database.close_all()
