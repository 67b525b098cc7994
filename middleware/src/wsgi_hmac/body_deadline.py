"""The WSGI middleware that reads request bodies within a deadline, so slow senders cannot hold
every thread of a server that faces clients directly."""
from __future__ import annotations

import contextlib
import io
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING

from wsgi_hmac.hmac_auth import INCOMPLETE_BODY
from wsgi_hmac.refusals import refuse
from wsgi_hmac.schemes import Failure

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

READ_STEP = 64 * 1024
# How often the watchdog looks at the deadlines it watches: how late, at most, a deadline is
# enforced.
SWEEP_SECONDS = 0.05


class BodyDeadline:
    """Read each request body whole before the wrapped app runs, within ``seconds``, with at
    most ``readers`` threads of the process reading bodies at once.

    A threaded server serving clients itself (gunicorn's ``gthread`` without a buffering proxy
    in front) gives each request a thread, which then blocks while the body trickles in: a
    few senders that declare a length and send a few bytes hold every thread. Here a body
    that has not arrived within ``seconds`` is answered 408 ``request_timeout`` (and the
    connection closed), and a request still finding every reader busy after ``wait`` seconds
    is answered 503 ``server_busy`` with ``Retry-After``, so the threads above ``readers``
    stay free for everything else (health checks included).

    The deadline holds however the bytes trickle in: when it passes, a watchdog thread shuts
    the read side of the socket (gunicorn puts it in the environ as ``gunicorn.socket``),
    which ends a blocked read. Without a socket there (another server, a test client) the
    body is read as the server delivers it. ``body_limit(environ)`` gives the request's route
    its own limit (default ``max_body``): a body declared over it is left unread for the app
    to refuse; the app gets every other body intact and re-readable, with its
    ``CONTENT_LENGTH``; ``on_reject(environ, failure)`` hears of each refusal. At most
    ``max_body`` bytes are ever read into memory: on a route whose limit is larger (a file
    upload) the app reads the body itself, as a stream that must arrive within ``seconds``
    plus its length (else the route's limit) at ``stream_rate`` bytes a second, while it
    holds a reader; what it leaves unread is not waited for. Trusts nothing of the client
    but its declared length::

        app = BodyDeadline(app, seconds=10, readers=6, wait=1, max_body=1024 * 1024,
                           body_limit=lambda environ: 1 << 30 if environ["PATH_INFO"]
                           == "/upload" else 64 * 1024)
    """

    def __init__(self, app: WSGIApplication, *, seconds: float = 10.0, readers: int = 6,
                 wait: float = 1.0, max_body: int = 1024 * 1024,
                 body_limit: Callable[[WSGIEnvironment], int] | None = None,
                 stream_rate: float = 256 * 1024,
                 on_reject: Callable[[WSGIEnvironment, Failure], None] | None = None) -> None:
        self.app = app
        self.on_reject = on_reject
        self.seconds = seconds
        self.wait = wait
        self.max_body = max_body
        self.body_limit = body_limit
        self.stream_rate = stream_rate
        self.readers = threading.BoundedSemaphore(max(1, readers))
        self.busy = Failure(503, "server_busy",
                            "Too many request bodies are arriving at once; retry shortly.",
                            (("Retry-After", "1"),))
        self.too_slow = Failure(408, "request_timeout",
                                f"The body did not arrive within {seconds:g} s.")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length_text = environ.get("CONTENT_LENGTH", "")
        length = int(length_text) if length_text.isdigit() else 0
        if not chunked and length == 0:
            return self.app(environ, start_response)
        limit = self.max_body if self.body_limit is None else self.body_limit(environ)
        if not chunked and length > limit:
            _stop_reading(environ)  # the app refuses it by its length; nothing to wait for
            return self.app(environ, start_response)
        if not (self.readers.acquire(blocking=False)
                or self.readers.acquire(timeout=self.wait)):
            _stop_reading(environ)
            return self._refuse(environ, start_response, self.busy)
        if limit > self.max_body:
            return self._streamed(environ, start_response, length if length else limit)
        limit = min(limit, self.max_body)
        try:
            body = self._read(environ, length, chunked, limit)
        finally:
            self.readers.release()
        if isinstance(body, Failure):
            return self._refuse(environ, start_response, body)
        if chunked:  # now a body of known length (over its limit when it was longer)
            if len(body) > limit:
                _stop_reading(environ)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = True
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _refuse(self, environ: WSGIEnvironment, start_response: StartResponse,
                failure: Failure) -> list[bytes]:
        if self.on_reject is not None:
            self.on_reject(environ, failure)
        return refuse(start_response, failure)

    def _streamed(self, environ: WSGIEnvironment, start_response: StartResponse,
                  most: int) -> Iterable[bytes]:
        """Run the app on the body as a stream that must arrive within ``seconds`` plus
        ``most`` bytes at ``stream_rate``; the reader is held until the app returns."""
        stream = _Counted(environ["wsgi.input"])
        environ["wsgi.input"] = stream
        watched = environ.get("gunicorn.socket")
        deadline = time.monotonic() + self.seconds + most / self.stream_rate
        ticket = watchdog.watch(watched, deadline) if isinstance(watched, socket.socket) else None
        try:
            return self.app(environ, start_response)
        finally:
            if ticket is not None:
                watchdog.forget(ticket)
            self.readers.release()
            if not stream.ended and stream.got < most:
                _stop_reading(environ)  # the app refused it unread: nothing to wait for

    def _read(self, environ: WSGIEnvironment, length: int, chunked: bool,
              limit: int) -> bytes | Failure:
        """The body (a chunked one up to ``limit + 1`` bytes); 408 when the deadline cut
        it short, 400 when the client ended it early."""
        wanted = limit + 1 if chunked else length
        stream = environ["wsgi.input"]
        watched = environ.get("gunicorn.socket")
        deadline = time.monotonic() + self.seconds
        ticket = watchdog.watch(watched, deadline) if isinstance(watched, socket.socket) else None
        parts, got = [], 0
        try:
            while got < wanted and time.monotonic() < deadline:
                part = stream.read(min(READ_STEP, wanted - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except OSError:  # the client went away, or its socket was shut at the deadline
            pass
        finally:
            fired = ticket is not None and watchdog.forget(ticket)
        if chunked:  # it ends where its stream ends, which a shut socket fakes
            return self.too_slow if fired else b"".join(parts)
        if got < wanted:
            return self.too_slow if fired or time.monotonic() >= deadline else INCOMPLETE_BODY
        return b"".join(parts)


class _Counted:
    """A body stream handed to the app: how much it read, whether it read to the end."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.got, self.ended = stream, 0, False

    def read(self, size: int = -1) -> bytes:
        return self._seen(self.stream.read(size), size)

    def readline(self, size: int = -1) -> bytes:
        return self._seen(self.stream.readline(size), size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _seen(self, data: bytes, size: int) -> bytes:
        self.got += len(data)
        self.ended = self.ended or (not data and size != 0)
        return data


def _stop_reading(environ: WSGIEnvironment) -> None:
    """Shut the read side of the client's socket: the server's own reads of what is left of
    the body (gunicorn drains it to keep the connection) then end at once, never wait."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed meanwhile
        sock.shutdown(socket.SHUT_RD)


class _Watchdog:
    """One thread a process that shuts the read side of each socket whose deadline passed.

    Readers register and leave without a lock (one dict operation each, atomic in CPython):
    a lock here was a queue of readers, each holding its reader slot while it waited for the
    lock and then for the interpreter lock. Whoever pops a ticket owns it: the reader (done
    in time) or the watchdog (it shuts the socket)."""

    def __init__(self) -> None:
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._tickets = itertools.count(1)
        self._busy = threading.Event()  # set while anything is watched
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        if self._thread is None or not self._thread.is_alive():  # a forked child too
            self._start_thread()
        ticket = next(self._tickets)
        self._watched[ticket] = (deadline, sock)
        if not self._busy.is_set():
            self._busy.set()
        return ticket

    def forget(self, ticket: int) -> bool:
        """Stop watching; whether the deadline had passed and the socket was shut."""
        return self._watched.pop(ticket, None) is None

    def _start_thread(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._busy = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._busy,),
                                                name="body-deadline", daemon=True)
                self._thread.start()

    def _run(self, busy: threading.Event) -> None:
        while True:
            busy.wait()
            now = time.monotonic()
            for ticket, (deadline, sock) in list(self._watched.items()):
                if deadline <= now and self._watched.pop(ticket, None) is not None:
                    _shut(sock)
            if self._watched:
                time.sleep(SWEEP_SECONDS)
                continue
            busy.clear()
            if self._watched:  # registered between the look and the clear
                busy.set()


watchdog = _Watchdog()
