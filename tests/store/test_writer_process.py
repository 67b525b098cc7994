"""The writer process (store.writer.process) on a real SQLite file: what a write is told is
what is stored, once; nothing is answered before its commit, a writer gone mid-write is a 503,
never a write run twice, and a stopped one a 503 after the deadline."""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

import pytest
from peewee import IntegrityError, InterfaceError, OperationalError

from app import create_app
from conversions.store import events
from conversions.store.database import connection, database, sqlite_file
from conversions.store.events import insert_batch, insert_event
from conversions.store.models import Event, WebhookDelivery
from conversions.store.writer import link, supervisor
from conversions.store.writer.group_commit import deadlines, group_commit
from conversions.tenants import accounts
from tests import support
from tests.support import until

pytestmark = pytest.mark.skipif(support.postgres_pass(), reason="a SQLite file's writer")
WINDOW_MS = 48 * 3_600_000  # a write's window of cross-channel deduplication


def row(tenant_id: str, key: str | None, name: str = "purchase") -> dict:
    return {"tenant": tenant_id, "source_type": "webhook", "signed": True, "event_name": name,
            "occurred_at_ms": 1, "received_at_ms": 1, "dedup_key": key}


def waiting_for_lock(pid: int) -> bool:
    """Whether process ``pid`` waits for a file lock (``/proc/locks``: a blocked ``->`` line)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
            return True
    return False


@contextmanager
def lock_held(db_path: str) -> Iterator[None]:
    """The lock beside the database every writer takes per transaction, held by this test."""
    fd = os.open(db_path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def connectable(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def stored() -> dict[int, str | None]:
    with ThreadPoolExecutor(1) as pool:  # a connection of its own
        return pool.submit(_read).result()


def _read() -> dict[int, str | None]:
    with connection():
        return dict(Event.select(Event.id, Event.dedup_key).tuples())


class Writer:
    """``python -m conversions.store.writer.process`` on a socket in a private directory."""

    def __init__(self, directory: Path, config: Mapping[str, Any]) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        self.socket = supervisor.private_address(str(directory))
        self.config = config
        self.process: subprocess.Popen | None = None

    def start(self) -> Writer:
        self.process = supervisor.start(self.socket, self.config)
        until(lambda: connectable(self.socket), timeout=15)  # the file exists before listen()
        return self

    def client(self):
        """A connection to the writer as a worker's thread makes it."""
        key = Path(supervisor.key_path(self.socket)).read_bytes()
        return Client(self.socket, "AF_UNIX", authkey=key)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def served(tmp_path):
    """An app whose event writes go to a real writer process; yields (app, writer, db path)."""
    db_path = str(tmp_path / "writer.db")
    url = f"sqlite:///{db_path}"
    address = str(tmp_path / "private" / "writer.sock")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "LOG_FORMAT": "text",
                      "SQLITE_WRITER_SOCKET": address})
    writer = Writer(tmp_path / "private", app.config)
    assert writer.socket == address
    writer.start()
    try:
        yield app, writer, db_path
    finally:
        writer.stop()
        link.configure("")
        database.close_all()


@pytest.fixture
def shop(served) -> dict:
    with connection():
        return accounts.create("shop.example.com", "buyer-1")


def test_writes_run_in_the_writer_and_are_stored_once_with_their_ids(served, shop):
    app, writer, db_path = served
    with ThreadPoolExecutor(1) as pool, lock_held(db_path):
        first = pool.submit(insert_event, row(shop["tenant_id"], "id:first"))
        # The writer runs it, not we.
        until(lambda: waiting_for_lock(writer.process.pid), timeout=15)
    assert first.result(10) == (1, False)
    keys = [f"id:{n % 60}" for n in range(200)]  # 60 distinct, each sent several times
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda key: (key, insert_event(row(shop["tenant_id"], key))),
                                keys))
    rows = stored()
    assert sorted(rows.values()) == sorted({"id:first", *keys})
    ids = {key: event_id for event_id, key in rows.items()}
    assert all(ids[key] == event_id for key, (event_id, _) in answers)
    assert sorted(key for key, (_, duplicate) in answers if not duplicate) == sorted(set(keys))


def test_a_batch_with_its_delivery_is_all_or_nothing_and_a_redelivery_stores_nothing(served,
                                                                                    shop):
    tenant_id = shop["tenant_id"]

    def delivery(message_id: str) -> dict:
        return {"tenant": tenant_id, "message_id": message_id, "received_at_ms": 1,
                "event_count": 3, "window_start_ms": 0}

    broken = [row(tenant_id, "id:a"), row("no-such-tenant", "id:b")]
    with pytest.raises(IntegrityError):
        insert_batch(broken, delivery("msg-1"))
    assert stored() == {}
    answer = insert_batch([row(tenant_id, "id:a"), row(tenant_id, "id:b"),
                           row(tenant_id, "id:a")], delivery("msg-1"))
    assert answer == [(1, False), (2, False), (1, True)]
    assert insert_batch([row(tenant_id, "id:c")], delivery("msg-1")) is None
    assert stored() == {1: "id:a", 2: "id:b"}
    with connection():
        assert WebhookDelivery.select().count() == 1


def test_one_bad_write_of_a_group_fails_alone(served, shop):
    _, writer, db_path = served
    tenant_id = shop["tenant_id"]
    senders = [writer.client() for _ in range(3)]

    def write(key: str, tenant: str = tenant_id):
        return events._insert_event, (row(tenant, key), WINDOW_MS)

    with lock_held(db_path):
        senders[0].send(write("id:before"))
        until(lambda: waiting_for_lock(writer.process.pid), timeout=15)
        # Both arrive while that commit waits: the next transaction takes them together.
        senders[1].send(write("id:good"))
        senders[2].send(write("id:bad", "no-such-tenant"))
    answers = [sender.recv() for sender in senders]
    for sender in senders:
        sender.close()
    assert answers[:2] == [(True, (1, False)), (True, (2, False))]
    ok, error = answers[2]
    assert not ok
    assert isinstance(error, IntegrityError)
    assert stored() == {1: "id:before", 2: "id:good"}


def test_a_connection_without_the_key_is_refused(served):
    _, writer, _ = served
    with pytest.raises(AuthenticationError):
        Client(writer.socket, "AF_UNIX", authkey=b"not the key")
    assert os.stat(supervisor.key_path(writer.socket)).st_mode & 0o777 == 0o600


def test_writes_after_the_writer_died_run_in_process_with_one_warning(served, shop, caplog):
    _, writer, _ = served
    assert insert_event(row(shop["tenant_id"], "id:1")) == (1, False)
    writer.kill()
    with caplog.at_level(logging.WARNING, logger=link.__name__):
        assert insert_event(row(shop["tenant_id"], "id:2")) == (2, False)
        assert insert_event(row(shop["tenant_id"], "id:1")) == (1, True)
    assert [r.message for r in caplog.records if r.name == link.__name__] == [
        "writer process unreachable; writing in process"]
    assert stored() == {1: "id:1", 2: "id:2"}


def test_a_writer_killed_mid_write_answers_503_and_loses_nothing_answered(served, shop):
    app, writer, db_path = served
    client = app.test_client()

    def pixel(event_id: str):
        return client.get(f"/api/conversions/pixel?buyer_id=buyer-1&event_name=signup"
                          f"&event_id={event_id}", headers={"Accept": "application/json"})

    assert pixel("before").status_code == 202
    with ThreadPoolExecutor(1) as pool, lock_held(db_path):
        in_flight = pool.submit(pixel, "in-flight")
        until(lambda: waiting_for_lock(writer.process.pid), timeout=15)
        writer.kill()
        response = in_flight.result(10)  # answered while the lock is still held: not re-run
    assert response.status_code == 503
    assert response.get_json()["error"] == "store_unavailable"
    assert pixel("after").status_code == 202  # in process now
    assert sorted(stored().values()) == ["id:after", "id:before"]


def test_a_stopped_writer_fails_writes_after_the_deadline_and_they_are_stored_once(
        served, shop, monkeypatch):
    """SIGSTOP: a batch larger than the socket takes, a write on a connection made before (its
    answer awaited) and one needing a new connection (a handshake the writer cannot answer)
    each fail as a store failure once the deadline passes; after SIGCONT, retried, each is
    stored once."""
    _, writer, _ = served
    monkeypatch.setattr(deadlines, "seconds", 0.5)
    tenant_id = shop["tenant_id"]
    batch = [row(tenant_id, f"id:{n:0190}") for n in range(4000)]  # about 1 MB pickled
    with ThreadPoolExecutor(1) as other, ThreadPoolExecutor(1) as fresh:
        assert insert_event(row(tenant_id, "id:1")) == (1, False)  # connections made
        assert other.submit(insert_event, row(tenant_id, "id:2")).result(10) == (2, False)
        os.kill(writer.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(InterfaceError, match="took no write"):
                insert_batch(batch)
            with pytest.raises(InterfaceError, match="did not answer"):
                other.submit(insert_event, row(tenant_id, "id:3")).result(10)
            with pytest.raises(InterfaceError, match="took no connection"):
                fresh.submit(insert_event, row(tenant_id, "id:4")).result(10)
        finally:
            os.kill(writer.process.pid, signal.SIGCONT)
    monkeypatch.setattr(deadlines, "seconds", 15.0)  # the batch takes a while on a busy machine
    retried = {key: insert_event(row(tenant_id, key)) for key in ("id:3", "id:4")}
    assert [duplicate for _, duplicate in insert_batch(batch)] == [False] * len(batch)
    rows = stored()
    assert sorted(rows.values()) == sorted(["id:1", "id:2", "id:3", "id:4",
                                            *(event["dedup_key"] for event in batch)])
    ids = {key: event_id for event_id, key in rows.items()}
    assert all(ids[key] == event_id for key, (event_id, _) in retried.items())


def test_the_supervisor_starts_the_writer_again_when_it_exits(tmp_path):
    db_path = str(tmp_path / "writer.db")
    url = f"sqlite:///{db_path}"
    app = create_app({"DATABASE_URL": url, "LOG_FORMAT": "text"})  # the schema
    kept = supervisor.Supervisor(app.config).start()
    try:
        assert kept.listening()
        first = kept.process.pid
        os.kill(first, signal.SIGKILL)
        until(lambda: kept.process.pid != first and kept.process.poll() is None, timeout=15)
        until(lambda: connectable(kept.socket), timeout=15)
        create_app({"DATABASE_URL": url, "LOG_FORMAT": "text",
                    "SQLITE_WRITER_SOCKET": kept.socket})
        with connection():
            tenant_id = accounts.create("shop.example.com", "buyer-1")["tenant_id"]
        with ThreadPoolExecutor(1) as pool, lock_held(db_path):
            write = pool.submit(insert_event, row(tenant_id, "id:1"))
            until(lambda: waiting_for_lock(kept.process.pid), timeout=15)
        assert write.result(10) == (1, False)
    finally:
        kept.stop()
        link.configure("")
        database.close_all()
    assert kept.process.poll() is not None
    assert not os.path.exists(kept.directory)


def test_only_a_sqlite_file_asked_for_gets_a_writer():
    assert supervisor.wanted({"SQLITE_WRITER": "process", "DATABASE_URL": "sqlite:////srv/c.db"})
    assert not supervisor.wanted({"SQLITE_WRITER": "inline",
                                  "DATABASE_URL": "sqlite:////srv/c.db"})
    assert not supervisor.wanted({"SQLITE_WRITER": "process",
                                  "DATABASE_URL": "sqlite:///:memory:"})
    assert not supervisor.wanted({"SQLITE_WRITER": "process", "DATABASE_URL": "postgresql://db/c"})
    with pytest.raises(ValueError, match="SQLITE_WRITER"):
        supervisor.wanted({"SQLITE_WRITER": "thread", "DATABASE_URL": "sqlite:///c.db"})


def lockable(db_path: str) -> bool:
    """Whether the writer lock is free: another open file takes it at once."""
    fd = os.open(db_path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and so the lock, if taken
    return True


def test_a_write_waits_for_a_held_writer_lock_only_so_long(app, tenant, monkeypatch):
    """A process holding the lock (a writer stopped mid-commit) fails the write after the
    deadline; the lock, once free, goes to the next write, and is not kept."""
    db_path = sqlite_file(app.config["DATABASE_URL"])
    monkeypatch.setattr(deadlines, "seconds", 0.2)
    with ThreadPoolExecutor(1) as pool:
        with lock_held(db_path):
            with pytest.raises(OperationalError, match="not free within 0.2 s"):
                insert_event(row(tenant["tenant_id"], "id:1"))
            monkeypatch.setattr(deadlines, "seconds", 15.0)
            later = pool.submit(insert_event, row(tenant["tenant_id"], "id:2"))
            until(lambda: group_commit._leading)  # it waits for the lock too
        assert later.result(10) == (1, False)
    until(lambda: lockable(db_path))
    assert stored() == {1: "id:2"}


def test_a_write_finding_every_waiter_busy_is_a_store_failure(app, tenant, monkeypatch):
    db_path = sqlite_file(app.config["DATABASE_URL"])
    monkeypatch.setattr(deadlines, "waiters", threading.BoundedSemaphore(1))
    with ThreadPoolExecutor(1) as pool:
        with lock_held(db_path):
            first = pool.submit(insert_event, row(tenant["tenant_id"], "id:1"))
            until(lambda: waiting_for_lock(os.getpid()))
            with pytest.raises(OperationalError, match="every writer slot"):
                insert_event(row(tenant["tenant_id"], "id:2"))
        assert first.result(10) == (1, False)
    assert stored() == {1: "id:1"}
