"""The database from ``DATABASE_URL``: a pool sized by ``DB_POOL_SIZE``, a connection a request."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import OperationalError
from playhouse.pool import MaxConnectionsExceeded

from app import create_app
from conversions.store.database import connect, connection, database
from conversions.tenants import accounts
from tests import support


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


def test_a_postgresql_server_that_never_answers_fails_the_connect_in_time():
    """A stopped server: the kernel takes the connection, nothing ever answers it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        db = connect(f"postgresql://postgres@127.0.0.1:{port}/conversions", connect_timeout=2)
        with ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(db.connect)
            with pytest.raises(OperationalError, match="timeout"):
                attempt.result(30)  # without the timeout: never answered


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


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.skipif(support.postgres_pass(), reason="SQLite files")
def test_the_sqlite_database_and_its_wal_and_shm_are_owner_only(tmp_path):
    path = tmp_path / "instance" / "conversions.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "LOG_FORMAT": "text"})
    with app.app_context(), connection():
        accounts.create("private.example.com")
        files = [path, path.with_name("conversions.db-wal"), path.with_name("conversions.db-shm")]
        assert all(file.exists() for file in files)
        assert [_mode(file) for file in files] == [0o600] * 3
    database.close_all()


@pytest.mark.skipif(support.postgres_pass(), reason="SQLite files")
def test_a_database_file_made_world_readable_before_is_made_owner_only(tmp_path):
    path = tmp_path / "conversions.db"
    create_app({"DATABASE_URL": f"sqlite:///{path}", "LOG_FORMAT": "text"})
    database.close_all()
    for file in tmp_path.iterdir():
        file.chmod(0o644)
    create_app({"DATABASE_URL": f"sqlite:///{path}", "LOG_FORMAT": "text"})
    database.close_all()
    assert {file.name: _mode(file) for file in tmp_path.iterdir()
            if not file.name.endswith("-writer.lock")} == {
        name: 0o600 for name in ("conversions.db", "conversions.db-wal", "conversions.db-shm")
        if (tmp_path / name).exists()}
