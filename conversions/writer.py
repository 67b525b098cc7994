"""Group commit: the writes of many concurrent requests committed in one transaction.

With threaded workers (gunicorn's ``gthread``), requests that arrive while a commit is
under way queue their writes; when it ends, one of them (the leader) runs every queued
write in a single transaction, commits once, and hands each its own result. A request is
answered only after the commit that holds its write, so a 2xx still means committed, while
the cost of a durable commit (``synchronous=FULL``, PostgreSQL's ``fsync``) is shared by the
whole group. Alone (a sync worker, a quiet moment) a write is simply its own transaction.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from peewee import InterfaceError, OperationalError

from conversions.db import connection, database

T = TypeVar("T")

# Failures of the store itself: every write of the group shares them.
STORE_DOWN = (OperationalError, InterfaceError)


class _Write(Generic[T]):
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Run writes in shared transactions; ``run`` returns only once its write is committed.

    ``max_group`` bounds how many writes one transaction takes, so a burst cannot make one
    transaction (and the wait of its first writer) grow without limit.
    """

    def __init__(self, max_group: int = 256) -> None:
        self.max_group = max_group
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Write[Any]] = []
        self._committing = False

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work()`` (database writes) in a committed transaction; return its result.

        A store failure (the commit failed, the database is down) is raised to every write
        of the group; any other error of one write is raised to that write alone.
        """
        write: _Write[T] = _Write(work)
        with self._cond:
            self._queue.append(write)
        while True:
            with self._cond:
                while self._committing and not write.done:
                    self._cond.wait()
                if write.done:
                    break
                # Lead: take the queue (this write among it, unless over max_group).
                self._committing = True
                group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
            try:
                _commit(group)
            finally:
                with self._cond:
                    self._committing = False
                    self._cond.notify_all()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]


def _commit(group: list[_Write[Any]]) -> None:
    """Commit ``group`` in one transaction; if one write fails, retry each on its own."""
    try:
        with connection():
            _transaction(group)
    except STORE_DOWN as err:
        _finish(group, err)
    except Exception:  # one write broke: the others must not pay for it
        for write in group:
            try:
                with connection():
                    _transaction([write])
            except Exception as err:  # noqa: BLE001 - handed to the write's own thread
                _finish([write], err)
    except BaseException as err:
        _finish(group, err)
        raise


def _transaction(group: list[_Write[Any]]) -> None:
    with database.atomic():
        results = [write.work() for write in group]
    for write, result in zip(group, results, strict=True):
        write.result = result
        write.error = None
        write.done = True


def _finish(group: list[_Write[Any]], error: BaseException) -> None:
    for write in group:
        write.error = error
        write.done = True


group_commit = GroupCommit()
