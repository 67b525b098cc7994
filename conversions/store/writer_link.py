"""A worker's side of the writer process (``store.writer_process``): each thread sends its
writes there over its own connection and waits for the answer.

A write sent is answered by the writer only after its commit. If the connection breaks once
the write is sent, or no answer comes within ``WRITE_TIMEOUT_SECONDS`` (a writer stopped or
hung), its fate is unknown: it is answered as a store failure (503; the sender retries, and
keyed events are stored once), never run again here. Only a write that could not be sent at
all (no writer listening: not started yet, dead, being restarted) runs in process through
``store.writer.group_commit``, with a warning logged once an outage. A thread waits on the
writer only while holding one of the process's writer slots (``store.writer.deadlines``).
"""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from peewee import InterfaceError

from conversions.store import wire
from conversions.store.database import database
from conversions.store.writer import deadlines, group_commit

log = logging.getLogger(__name__)

_path = ""
_local = threading.local()
_unreachable = False


def configure(path: str) -> None:
    """Send writes to the writer listening on ``path``; "" keeps every write in process."""
    global _path, _unreachable
    _path, _unreachable = path, False


def run(name: str, work: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``work(*args)``, committed: by the writer process as its write ``name``, or here when
    none can be reached (or inside a transaction of the caller's, where it must ride)."""
    if _path and not database.in_transaction():
        message = wire.frame((name, args))
        with deadlines.waiting():
            sock = _sent(message)
            if sock is not None:
                try:
                    answer = wire.receive(sock)
                except (OSError, EOFError) as err:  # TimeoutError included: a stopped writer
                    _forget()
                    raise InterfaceError(f"the writer process did not answer: {err}") from err
                return wire.result(answer)
    return group_commit.run(lambda: work(*args))


def _sent(message: bytes) -> socket.socket | None:
    """The connection ``message`` went out on whole, or None if no writer could take it.

    A send that fails has not reached the writer whole, and a frame cut short is never run:
    on a connection the writer closed since (it was restarted), it is sent once more on a new one.
    """
    for _ in range(2):
        sock = _connection()
        if sock is None:
            return None
        try:
            sock.sendall(message)
        except OSError:
            _forget()
            continue
        return sock
    return None


def _connection() -> socket.socket | None:
    """This thread's connection to the writer, made if need be; None if none listens."""
    global _unreachable
    sock: socket.socket | None = getattr(_local, "sock", None)
    if sock is not None and _local.path == _path:
        return sock
    _forget()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(deadlines.seconds)  # connect, send and the wait for the answer
    try:
        sock.connect(_path)
    except OSError as err:
        sock.close()
        if not _unreachable:
            _unreachable = True
            log.warning("writer process unreachable; writing in process",
                        extra={"error_type": type(err).__name__})
        return None
    if _unreachable:
        _unreachable = False
        log.info("writer process reached again")
    _local.sock, _local.path = sock, _path
    return sock


def _forget() -> None:
    sock = getattr(_local, "sock", None)
    _local.sock = None
    if sock is not None:
        sock.close()
