"""What the writer process (``store.writer_process``) and the worker threads that send it
writes say to each other over its Unix socket: frames of a 4-byte length and a marshal
payload.

A write goes as ``(name, args)``, its answer as ``(True, result)`` or ``(False, (kind,
message))``. marshal carries exactly the plain data rows are made of (text, numbers, None,
lists, tuples and dicts) and is the fastest of the standard library's encoders for it; it
cannot build arbitrary objects as pickle can, but it is not meant for hostile input either,
so the socket lives in a private directory (mode 0700) and is itself 0600: only the
service's own user can speak to the writer.
"""
from __future__ import annotations

import marshal
import socket
import struct
from typing import Any

from peewee import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

_LENGTH = struct.Struct("!I")
# A webhook batch of WEBHOOK_MAX_EVENTS rows is far below this.
MAX_FRAME = 256 * 1024 * 1024

# The errors a write may raise that come back as themselves; any other comes back as a
# RuntimeError naming it. OperationalError and InterfaceError are store failures (503).
_KINDS: dict[str, type[Exception]] = {kind.__name__: kind for kind in (
    OperationalError, InterfaceError, IntegrityError, DataError, ProgrammingError,
    NotSupportedError, DatabaseError, ValueError, TypeError, KeyError)}


def frame(message: Any) -> bytes:
    """``message`` encoded, behind its length."""
    payload = marshal.dumps(message)
    return _LENGTH.pack(len(payload)) + payload


def split(buffer: bytearray) -> list[Any]:
    """Take the complete frames off the front of ``buffer``; their messages, in order."""
    messages, start = [], 0
    while len(buffer) - start >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, start)
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes")
        end = start + _LENGTH.size + size
        if end > len(buffer):
            break
        messages.append(marshal.loads(buffer[start + _LENGTH.size:end]))  # noqa: S302 (the module's docstring)
        start = end
    del buffer[:start]
    return messages


def receive(sock: socket.socket) -> Any:
    """The next message on ``sock``; EOFError if the peer closed it first."""
    (size,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    return marshal.loads(_exactly(sock, size))  # noqa: S302 (the module's docstring)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = sock.recv(size)
    if len(data) == size:
        return data
    chunks = [data]
    received = len(data)
    while data and received < size:
        data = sock.recv(size - received)
        chunks.append(data)
        received += len(data)
    if received < size:
        raise EOFError("the writer closed the connection")
    return b"".join(chunks)


def answer(result: Any = None, error: BaseException | None = None) -> bytes:
    """The framed answer to one write."""
    if error is None:
        return frame((True, result))
    kind = type(error).__name__
    message = str(error)
    if kind not in _KINDS:
        kind, message = "RuntimeError", f"{kind}: {message}"
    return frame((False, (kind, message)))


def result(message: tuple[bool, Any]) -> Any:
    """A write's result, or its error raised as the kind the writer met."""
    ok, value = message
    if ok:
        return value
    kind, text = value
    raise _KINDS.get(kind, RuntimeError)(text)
