"""A worker's side of the writer process (``store.writer.process``): each thread sends its
writes there over a ``multiprocessing.connection`` of its own, authenticated with the key the
master wrote beside the socket, and waits for the answer.

A write sent is answered by the writer only after its commit. If the connection breaks once
the write is sent, or no answer comes within ``WRITE_TIMEOUT_SECONDS`` (a writer stopped or
hung), its fate is unknown: it is answered as a store failure (503; the sender retries, and
keyed events are stored once), never run again here. A writer that takes no connection or no
write in that time (stopped) is the same 503. Only a write that could not be sent at all (no
writer listening: not started yet, dead, being restarted) runs in process through
``group_commit``, with a warning logged once an outage. A thread waits on the writer only while
holding one of the process's writer slots (``group_commit.deadlines``).
"""
from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent import futures
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection
from typing import Any

from peewee import InterfaceError

from conversions.store.database import database
from conversions.store.writer.group_commit import deadlines, group_commit
from conversions.store.writer.supervisor import key_path

log = logging.getLogger(__name__)

_address = ""
_local = threading.local()
_unreachable = False
# Connections are made one at a time, by a thread of this one's own: ``Client`` takes no
# timeout, and its handshake with a stopped writer would never end. A connection made after
# its caller gave up is closed (``_close_unwanted``).
_connector = futures.ThreadPoolExecutor(1, thread_name_prefix="writer-connect")


def configure(address: str) -> None:
    """Send writes to the writer listening on ``address``; "" keeps every write in process."""
    global _address, _unreachable
    _address, _unreachable = address, False


def run(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)``, committed: by the writer process, or here when none can be reached
    (or inside a transaction of the caller's, where it must ride). ``work`` goes as a
    reference, so it must be a function of a module's top level."""
    if _address and not database.in_transaction():
        with deadlines.waiting():
            conn = _sent((work, args))
            if conn is not None:
                return _answer(conn)
    return group_commit.run(lambda: work(*args))


def _answer(conn: Connection) -> Any:
    """The result the writer answers on ``conn``, or the error it met, raised here."""
    try:
        ok, value = conn.recv()
    except (OSError, EOFError) as err:
        _forget()  # an answer coming later must not be read as the next write's
        if isinstance(err, BlockingIOError):  # SO_RCVTIMEO expired: a stopped writer
            raise InterfaceError("the writer process did not answer within "
                                 f"{deadlines.seconds:g} s") from err
        raise InterfaceError(f"the writer process did not answer: {err}") from err
    if ok:
        return value
    raise value


def _sent(message: tuple[Callable[..., Any], tuple[Any, ...]]) -> Connection | None:
    """The connection ``message`` went out on whole, or None if no writer could take it.

    A message cut short is never run: on a connection the writer closed since (it was
    restarted), it is sent once more on a new one; one the writer did not take in time (it is
    stopped) is a store failure.
    """
    for _ in range(2):
        conn = _connection()
        if conn is None:
            return None
        try:
            conn.send(message)
        except BlockingIOError as err:  # SO_SNDTIMEO expired: the writer takes nothing
            _forget()
            raise InterfaceError("the writer process took no write within "
                                 f"{deadlines.seconds:g} s") from err
        except OSError:
            _forget()
            continue
        return conn
    return None


def _connection() -> Connection | None:
    """This thread's connection to the writer, made if need be; None if none listens."""
    global _unreachable
    conn: Connection | None = getattr(_local, "conn", None)
    if conn is not None and _local.address == _address:
        return conn
    _forget()
    connecting = _connector.submit(_connect, _address, deadlines.seconds)
    if not futures.wait([connecting], deadlines.seconds).done:
        if not connecting.cancel():
            connecting.add_done_callback(_close_unwanted)
        raise InterfaceError("the writer process took no connection within "
                             f"{deadlines.seconds:g} s")
    try:
        conn = connecting.result()
    except (OSError, EOFError, AuthenticationError) as err:
        if not _unreachable:
            _unreachable = True
            log.warning("writer process unreachable; writing in process",
                        extra={"error_type": type(err).__name__})
        return None
    if _unreachable:
        _unreachable = False
        log.info("writer process reached again")
    _local.conn, _local.address = conn, _address
    return conn


def _connect(address: str, seconds: float) -> Connection:
    """A connection to the writer on ``address`` whose sends and receives fail
    (BlockingIOError) when the writer takes or answers nothing for ``seconds``: a stopped
    writer must not hold the thread, whether its socket buffer is full or it owes an answer."""
    with open(key_path(address), "rb") as file:
        key = file.read()
    conn = Client(address, "AF_UNIX", authkey=key)
    # The same socket under a second descriptor, to set the kernel's timeouts (a struct
    # timeval) that Connection's blocking reads and writes then obey; cheaper than a poll
    # before every answer.
    timeout = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
    return conn


def _close_unwanted(connecting: futures.Future[Connection]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().close()


def _forget() -> None:
    conn: Connection | None = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        conn.close()
