"""The writer process: for a SQLite file, one process alone runs the event writes of every
worker (``python -m conversions.store.writer_process SOCKET``; gunicorn's master starts it,
``store.writer_supervisor``).

In a worker, a group commit's leader holds the write lock both workers share while it waits
for its own process's GIL, which the other request threads hold; every SQLite call releases
and takes it again. This process has no other thread: the workers send each write as data
(``store.wire``, ``store.writer_link``) and block until it answers. Every write that arrived
while the previous commit ran goes into the next transaction, by the group commit's own rules
(``store.writer.commit``: one write's error retried alone, a store failure to every write of
the group, at most ``MAX_GROUP``); each is answered only after that commit. Its transactions
still take the lock beside the database, so the writes that stay in process (postbacks,
imports, jobs) queue with it fairly.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
from collections import deque
from functools import partial
from typing import Any

from flask import Flask

from config import load
from conversions.store import wire
from conversions.store.database import database, from_config
from conversions.store.events import WRITES
from conversions.store.writer import MAX_GROUP, STORE_DOWN, Write, commit, deadlines

_CHUNK = 65536
# How often an idle writer checks that gunicorn's master, its parent, is still there.
_IDLE_SECONDS = 1.0


def serve(path: str) -> None:
    """Listen on the Unix socket ``path`` and run the writes sent there until told to stop
    (SIGTERM) or the parent process is gone."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)  # a writer before this one, gone
    old_mask = os.umask(0o177)  # the socket 0600 from the start
    try:
        listener.bind(path)
    finally:
        os.umask(old_mask)
    listener.listen(128)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytearray] = {}
    pending: deque[tuple[socket.socket, Any]] = deque()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(*STORE_DOWN):  # else each transaction connects (store.writer)
        database.connect(reuse_if_open=True)
    while not stopping:
        for key, _ in selector.select(0 if pending else _IDLE_SECONDS):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                selector.register(conn, selectors.EVENT_READ)
                buffers[conn] = bytearray()
            else:
                _read(key.fileobj, buffers, pending, selector)  # type: ignore[arg-type]
        if pending:
            group = [pending.popleft() for _ in range(min(len(pending), MAX_GROUP))]
            _answer(group)
        elif os.getppid() != parent:
            break
    listener.close()
    os.unlink(path)


def _read(conn: socket.socket, buffers: dict[socket.socket, bytearray],
          pending: deque[tuple[socket.socket, Any]], selector: selectors.BaseSelector) -> None:
    """Take what ``conn`` has sent; queue its complete writes, or forget it once closed."""
    buffer = buffers[conn]
    closed = False
    while True:
        try:
            data = conn.recv(_CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        except OSError:
            closed = True
            break
        if not data:
            closed = True
            break
        buffer += data
        if len(data) < _CHUNK:
            break
    try:
        pending.extend((conn, message) for message in wire.split(buffer))
    except ValueError:  # not a frame of ours: nothing more from it can be trusted
        closed = True
    if closed:  # its writes already queued still run; their answers find no one
        selector.unregister(conn)
        del buffers[conn]
        conn.close()


def _answer(group: list[tuple[socket.socket, Any]]) -> None:
    """Commit ``group`` in one transaction (``store.writer.commit``), then answer each."""
    writes: list[Write[Any]] = [Write(partial(_run, *message)) for _, message in group]
    commit(writes)
    for (conn, _), write in zip(group, writes, strict=True):
        # A sender gone (its worker killed) misses its answer: committed all the same.
        with contextlib.suppress(OSError):
            conn.sendall(wire.answer(write.result, write.error))


def _run(name: str, args: list[Any]) -> Any:
    return WRITES[name](*args)


def main() -> None:
    """Bind the database as the workers do (``config.load``), then serve ``argv[1]``."""
    app = Flask("conversions")
    load(app)
    database.initialize(from_config(app.config, pool_size=1))
    deadlines.configure(float(app.config["WRITE_TIMEOUT_SECONDS"]), 0)
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
