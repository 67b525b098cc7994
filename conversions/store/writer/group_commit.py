"""Group commit: the writes of many concurrent requests committed in one transaction.

With threaded workers (gunicorn's ``gthread``), requests that arrive while a commit is
under way queue their writes; when it ends, the first of them becomes the leader, runs
every queued write in a single transaction, commits once, and hands each its own result.
A request is answered only after the commit that holds its write, so a 2xx still means
committed, while the cost of a durable commit (``synchronous=FULL``, PostgreSQL's flush to
disk) is shared by the whole group. Alone (a sync worker, a quiet moment) a write is simply
its own transaction. The writer process (``store.writer.process``) commits its groups by
``commit`` here.

No write waits without a deadline: the SQLite write lock (``store.writer.lock``) is waited
for at most ``WRITE_TIMEOUT_SECONDS``, then the group fails as a store failure (503). Where
the writes wait on the writer process, at most ``WRITE_WAITERS`` threads of a worker wait at
once (``deadlines.waiting``), so a stopped writer cannot hold every thread.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from peewee import InterfaceError, OperationalError

from conversions.observability import instruments
from conversions.store.database import connection, database
from conversions.store.writer.lock import writer_turn

T = TypeVar("T")

# Failures of the store itself: every write of the group shares them.
STORE_DOWN = (OperationalError, InterfaceError)
# PostgreSQL's serialization failure and deadlock: the transaction may simply run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
ATTEMPTS = 3
# Writes one transaction takes at most.
MAX_GROUP = 256
# How long a write beyond WRITE_WAITERS waits for one of them to finish: a healthy store frees
# one within a commit (milliseconds); a stopped one is refused at once rather than parking
# every thread of the worker.
WAITER_WAIT_SECONDS = 0.5


class Deadlines:
    """How long a write may wait, and how many threads of a process may wait at once
    (``configure`` sets them from the app's settings; 0 waiters: as many as come)."""

    def __init__(self) -> None:
        self.seconds = 5.0
        self.waiters: threading.BoundedSemaphore | None = None

    def configure(self, seconds: float, waiters: int) -> None:
        self.seconds = seconds
        self.waiters = threading.BoundedSemaphore(waiters) if waiters > 0 else None

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Hold one of the waiters for a write; a store failure if none frees in time."""
        waiters = self.waiters
        if waiters is None:
            yield
            return
        if not waiters.acquire(timeout=WAITER_WAIT_SECONDS):
            raise OperationalError("every writer slot of this process is waiting on the store")
        try:
            yield
        finally:
            waiters.release()


deadlines = Deadlines()


def _retryable(err: BaseException) -> bool:
    original = getattr(err, "orig", None)  # peewee keeps the driver's error here
    return getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES


class Write(Generic[T]):
    """One write of a group: its work, then its result or error."""

    __slots__ = ("work", "done", "result", "error", "wake")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()  # released when done, or when handed the lead

    def finish(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error, self.done = result, error, True
        self.wake.release()


class GroupCommit:
    """Run writes in shared transactions; ``run`` returns only once its write is committed.

    ``max_group`` bounds how many writes one transaction takes, so a burst cannot make one
    transaction (and the wait of its first writer) grow without limit.
    """

    def __init__(self, max_group: int = MAX_GROUP) -> None:
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[Write[Any]] = []
        self._leading = False

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work()`` (database writes) in a committed transaction; return its result.

        A store failure (the commit failed, the database is down) is raised to every write
        of the group; any other error of one write is raised to that write alone. Called
        inside a transaction, it runs ``work()`` there and the caller commits.
        """
        if database.in_transaction():
            # The caller's own transaction decides when this commits: run it there, alone,
            # so neither rides in the other's transaction.
            return work()
        with deadlines.waiting():
            return self._run(work)

    def _run(self, work: Callable[[], T]) -> T:
        write: Write[T] = Write(work)
        with self._lock:
            self._queue.append(write)
            lead, self._leading = not self._leading, True
        if not lead:
            write.wake.acquire()  # done, or the previous leader handed over
        if not write.done:
            self._lead(write)
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def _lead(self, write: Write[Any]) -> None:
        """Commit the queue until ``write`` is done, then hand the lead to the next writer."""
        try:
            while not write.done:
                with self._lock:
                    group = self._queue[:self.max_group]
                    del self._queue[:self.max_group]
                    instruments.queued(len(self._queue))
                commit(group)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.release()  # it leads next; still leading meanwhile
                else:
                    self._leading = False


@instruments.timed_commit
def commit(group: list[Write[Any]]) -> None:
    """Commit ``group`` in one transaction; if one write fails, retry each on its own."""
    try:
        results = _transaction([write.work for write in group])
    except STORE_DOWN as err:
        for write in group:
            write.finish(None, err)
    except Exception:  # one write broke: the others must not pay for it
        for write in group:
            try:
                (result,) = _transaction([write.work])
            except Exception as err:  # noqa: BLE001 - raised in the write's own thread
                write.finish(None, err)
            else:
                write.finish(result, None)
    except BaseException as err:
        for write in group:
            write.finish(None, err)
        raise
    else:
        for write, result in zip(group, results, strict=True):
            write.finish(result, None)


def _transaction(works: list[Callable[[], Any]]) -> list[Any]:
    """Run ``works`` in one transaction, again if PostgreSQL rolled it back as a deadlock."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with connection(), writer_turn(deadlines.seconds), database.atomic():
                return [work() for work in works]
        except OperationalError as err:
            if attempt == ATTEMPTS or not _retryable(err):
                raise
    raise AssertionError("unreachable")


group_commit = GroupCommit()
