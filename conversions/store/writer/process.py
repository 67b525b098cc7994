"""The writer process: for a SQLite file, one process alone runs the event writes of every
worker (``python -m conversions.store.writer.process ADDRESS``, the store's settings as JSON on
its standard input; gunicorn's master starts it, ``store.writer.supervisor``).

In a worker, a group commit's leader waits for its own process's GIL, which the request
threads hold, at every SQLite call. Here one thread commits and the others only wait: a
``multiprocessing.connection.Listener`` on a Unix socket (mode 0600, in a directory of mode
0700, the key beside it), and a thread per worker connection that queues each write it
receives: ``(function, args)``, the function pickled by its name (``store.events``). Every
write queued while the previous commit ran goes into the next transaction, by the group
commit's rules (``store.writer.group_commit.commit``: one write's error retried alone, a store
failure to every write of the group, at most ``MAX_GROUP``); each is answered after that
commit, ``(True, result)`` or ``(False, error)``. Its transactions still take the lock beside
the database, so the writes that stay in process (postbacks, imports, jobs) queue with it
fairly.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener
from typing import Any

from conversions.observability import instruments
from conversions.store.database import database, from_config
from conversions.store.writer.group_commit import MAX_GROUP, STORE_DOWN, Write, commit, deadlines
from conversions.store.writer.supervisor import key_path

# How often an idle writer checks that gunicorn's master, its parent, is still there.
_IDLE_SECONDS = 1.0
# Every thread of every worker may connect at once.
_BACKLOG = 128

# A write received on a connection, or None once it closed.
Received = tuple[Connection, Any]


def serve(address: str, authkey: bytes) -> None:
    """Listen on the Unix socket ``address`` and run the writes sent there until told to stop
    (SIGTERM) or the parent process is gone."""
    parent = os.getppid()
    if os.path.exists(address):
        os.unlink(address)  # a writer before this one, gone
    old_mask = os.umask(0o177)  # the socket 0600 from the start
    try:
        listener = Listener(address, "AF_UNIX", backlog=_BACKLOG, authkey=authkey)
    finally:
        os.umask(old_mask)
    received: queue.SimpleQueue[Received] = queue.SimpleQueue()
    closing = threading.Event()

    def stop(*_: Any) -> None:
        closing.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=_accept, args=(listener, received, closing), daemon=True,
                     name="writer-accept").start()
    with contextlib.suppress(*STORE_DOWN):  # else each transaction connects
        database.connect(reuse_if_open=True)
    while not closing.is_set():
        try:
            group = [received.get(timeout=_IDLE_SECONDS)]
        except queue.Empty:
            if os.getppid() != parent:
                break
            continue
        with contextlib.suppress(queue.Empty):
            while len(group) < MAX_GROUP:
                group.append(received.get_nowait())
        instruments.queued(received.qsize())
        _answer(group)
    closing.set()
    listener.close()  # and its socket file removed


def _accept(listener: Listener, received: queue.SimpleQueue[Received],
            closing: threading.Event) -> None:
    """Take each worker's connection (its key checked) and a thread to receive its writes."""
    while not closing.is_set():
        try:
            conn = listener.accept()
        except (OSError, EOFError, AuthenticationError):  # a client gone or refused
            continue
        threading.Thread(target=_receive, args=(conn, received), daemon=True,
                         name="writer-receive").start()


def _receive(conn: Connection, received: queue.SimpleQueue[Received]) -> None:
    """Queue each write ``conn`` sends; once it closes, queue None for the committing thread,
    which closes it after answering the writes before (so no answer finds its descriptor
    reused)."""
    while True:
        try:
            message = conn.recv()
        except Exception:  # noqa: BLE001 - closed, or not a write: nothing more is trusted
            received.put((conn, None))
            return
        received.put((conn, message))


def _answer(group: list[Received]) -> None:
    """Commit the writes of ``group`` in one transaction, then answer each."""
    writes = [(conn, Write(partial(_run, message))) for conn, message in group
              if message is not None]
    if writes:
        commit([write for _, write in writes])
    for conn, write in writes:
        # A sender gone (its worker killed) misses its answer: committed all the same.
        with contextlib.suppress(OSError):
            _send(conn, write)
    for conn, message in group:
        if message is None:
            conn.close()


def _send(conn: Connection, write: Write[Any]) -> None:
    if write.error is None:
        conn.send((True, write.result))
        return
    try:
        conn.send((False, write.error))
    except (pickle.PicklingError, TypeError, AttributeError):  # an error pickle cannot carry
        conn.send((False, RuntimeError(f"{type(write.error).__name__}: {write.error}")))


def _run(message: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    work, args = message
    return work(*args)


def main() -> None:
    """Bind the database by the settings on standard input (the master's configuration, as
    ``store.writer.supervisor`` sends it), then serve ``argv[1]`` with the key beside it."""
    config = json.load(sys.stdin)
    database.initialize(from_config(config, pool_size=1))
    deadlines.configure(float(config["WRITE_TIMEOUT_SECONDS"]), 0)
    with open(key_path(sys.argv[1]), "rb") as file:
        authkey = file.read()
    serve(sys.argv[1], authkey)


if __name__ == "__main__":
    main()
