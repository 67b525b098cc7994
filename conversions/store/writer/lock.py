"""The write lock beside a SQLite file: every process's transactions of event writes queue on
an exclusive ``flock`` the kernel hands over as soon as it is free (SQLite itself makes the
others poll with growing sleeps), waited for at most a deadline, as a process holding it may
be stopped.
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from peewee import OperationalError

from conversions.store.database import database, sqlite_file


class LockFile:
    """An exclusive ``flock`` on one file, waited for at most so long.

    flock itself has no timeout, so a thread of its own blocks in it (the kernel still hands
    the lock over the moment it is free) while the caller waits at most ``seconds`` for that
    thread. A lock the thread gets after its caller gave up goes to the next caller still
    waiting, else is released at once. One caller at a time a process (a group commit has
    one leader; the writer process one thread), as flock shares a lock within a process.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._state = threading.Lock()
        self._got: threading.Event | None = None  # a thread blocked in flock, set once it holds
        self._wanted = False

    def take(self, seconds: float) -> bool:
        """Whether the lock is now held (False: not free within ``seconds``)."""
        with self._state:
            if self._got is None:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self._got = threading.Event()
                    threading.Thread(target=self._wait, args=(self._got,), daemon=True,
                                     name="writer-lock").start()
                else:
                    return True
            got, self._wanted = self._got, True
        got.wait(seconds)
        with self._state:
            self._wanted = False
            if got.is_set():
                self._got = None
                return True
            return False

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def _wait(self, got: threading.Event) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        with self._state:
            if self._wanted:
                got.set()
            else:  # its caller gave up and no other waits
                self._got = None
                fcntl.flock(self.fd, fcntl.LOCK_UN)


_lock_files: dict[tuple[int, str], LockFile] = {}


@contextmanager
def writer_turn(seconds: float) -> Iterator[None]:
    """For a SQLite file, hold an exclusive lock beside it, shared by every process, waited
    for at most ``seconds`` (``WRITE_TIMEOUT_SECONDS``); else a store failure."""
    path = sqlite_file(database.obj)
    if not path:
        yield
        return
    key = (os.getpid(), path)  # a descriptor inherited through fork would share the lock
    if key not in _lock_files:
        _lock_files[key] = LockFile(path + "-writer.lock")
    lock = _lock_files[key]
    if not lock.take(seconds):
        raise OperationalError(f"the store's write lock was not free within {seconds:g} s")
    try:
        yield
    finally:
        lock.release()
