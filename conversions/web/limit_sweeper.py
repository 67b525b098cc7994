"""One long-lived thread expiring in-memory rate-limit counters, instead of one per hit.

A storage handed to ``adopt`` gets the sweeper as its expiry ``timer``, which never ends; it
expires counters once a second through the storage's public ``get_expiry`` and ``clear``.
docs/performance.md ("What was made faster") says what it saves and why no limit changes.
"""
from __future__ import annotations

import os
import threading
import time
import weakref

from limits.storage import MemoryStorage

INTERVAL_SECONDS = 1.0

_storages: weakref.WeakSet[MemoryStorage] = weakref.WeakSet()
_lock = threading.Lock()
_sweeper: tuple[int, threading.Thread] | None = None


def sweep(storage: MemoryStorage) -> None:
    """Clear the counters of ``storage`` whose window has ended."""
    for key in list(storage.expirations):
        # Under the counter's own lock, as ``incr`` takes it: a window a hit has just
        # restarted is never cleared.
        with storage.locks[key]:
            if storage.get_expiry(key) <= time.time():
                storage.clear(key)


def _sweep_forever() -> None:
    while True:
        time.sleep(INTERVAL_SECONDS)
        for storage in list(_storages):
            sweep(storage)


def _running() -> threading.Thread:
    """The sweeper of this process (a thread does not survive a fork: start one anew)."""
    global _sweeper
    with _lock:
        if _sweeper is None or _sweeper[0] != os.getpid():
            thread = threading.Thread(target=_sweep_forever, name="ratelimit-expiry",
                                      daemon=True)
            thread.start()
            _sweeper = (os.getpid(), thread)
        return _sweeper[1]


def adopt(storage: object) -> None:
    """Let the sweeper expire ``storage``'s counters, if it is a ``MemoryStorage``."""
    if isinstance(storage, MemoryStorage):
        _storages.add(storage)
        storage.timer = _running()  # type: ignore[assignment]  (a thread that never ends)
