"""BodyDeadline around a bare WSGI callable: bodies read whole within a deadline, at most so many
readers at once, slow senders cut off on a real socket. No Flask, no ``conversions``."""
from __future__ import annotations

import io
import json
import socket
import threading
import time

import pytest
from werkzeug.test import Client

from wsgi_hmac import BodyDeadline


def echo_app(environ, start_response):
    """Reports the body it was handed and the length it was told."""
    body = environ["wsgi.input"].read()
    payload = json.dumps({"body": body.decode(), "length": environ.get("CONTENT_LENGTH"),
                          "chunked": "HTTP_TRANSFER_ENCODING" in environ}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def call(app, environ):
    """Run ``app`` on a raw environ: status and JSON body."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return int(answer["status"][:3]), answer["headers"], json.loads(body)


def environ_with(stream, length: str = "", **extra):
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": length,
            "wsgi.input": stream, **extra}


def test_a_body_is_handed_on_whole_and_rereadable():
    response = Client(BodyDeadline(echo_app)).post("/", data=b"hello")
    assert response.status_code == 200
    assert response.json == {"body": "hello", "length": "5", "chunked": False}


def test_a_request_without_a_body_passes_untouched():
    stream = io.BytesIO(b"")
    status, _, seen = call(BodyDeadline(echo_app), environ_with(stream))
    assert (status, seen["length"]) == (200, "")


def test_a_chunked_body_gets_its_length():
    environ = environ_with(io.BytesIO(b"abc"), HTTP_TRANSFER_ENCODING="chunked",
                           **{"wsgi.input_terminated": True})
    status, _, seen = call(BodyDeadline(echo_app), environ)
    assert (status, seen) == (200, {"body": "abc", "length": "3", "chunked": False})


def test_a_body_declared_over_the_limit_is_left_for_the_app_to_refuse():
    def refusing_app(environ, start_response):
        start_response("413 Content Too Large", [("Content-Type", "application/json")])
        return [json.dumps({"declared": environ["CONTENT_LENGTH"]}).encode()]

    response = Client(BodyDeadline(refusing_app, max_body=4)).post("/", data=b"too long")
    assert (response.status_code, response.json) == (413, {"declared": "8"})


def test_a_body_shorter_than_its_length_is_refused():
    status, _, body = call(BodyDeadline(echo_app), environ_with(io.BytesIO(b"abc"), "10"))
    assert (status, body["error"]) == (400, "incomplete_body")


class WaitingStream:
    """A body that arrives only when the test says so."""

    def __init__(self) -> None:
        self.reading, self.arrive = threading.Event(), threading.Event()

    def read(self, size: int) -> bytes:
        self.reading.set()
        self.arrive.wait(10)
        return b"x"


def test_when_every_reader_still_waits_the_next_body_is_refused_with_retry_after():
    refusals = []
    app = BodyDeadline(echo_app, readers=1, wait=0.05, on_reject=lambda env, failure:
                       refusals.append(failure.error))
    slow = WaitingStream()
    first = threading.Thread(target=call, args=(app, environ_with(slow, "1")))
    first.start()
    assert slow.reading.wait(10)
    status, headers, body = call(app, environ_with(io.BytesIO(b"y"), "1"))
    slow.arrive.set()
    first.join(10)
    assert (status, body["error"], headers["Retry-After"]) == (503, "server_busy", "1")
    assert refusals == ["server_busy"]
    # Once the slow one is done, the reader is free again.
    assert call(app, environ_with(io.BytesIO(b"y"), "1"))[0] == 200


class CountingSemaphore(threading.BoundedSemaphore):
    """The readers' semaphore, saying when a request has begun to wait for it."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if blocking:
            self.waiting.set()
        return super().acquire(blocking, timeout)


def test_a_body_finding_every_reader_busy_for_a_moment_is_read_not_refused():
    app = BodyDeadline(echo_app, readers=1, wait=10)
    app.readers = readers = CountingSemaphore(1)
    busy = WaitingStream()  # a reader that is done as soon as the next body is waiting
    first = threading.Thread(target=call, args=(app, environ_with(busy, "1")))
    first.start()
    assert busy.reading.wait(10)
    answers = []
    second = threading.Thread(target=lambda: answers.append(
        call(app, environ_with(io.BytesIO(b"y"), "1"))))
    second.start()
    assert readers.waiting.wait(10)
    busy.arrive.set()
    first.join(10)
    second.join(10)
    assert [(status, seen["body"]) for status, _, seen in answers] == [(200, "y")]


@pytest.fixture
def connected():
    """Both ends of a TCP connection on loopback: (the server's socket, the client's)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    yield server, client
    client.close()
    server.close()


def test_a_body_trickling_in_is_cut_off_at_the_deadline(connected):
    server, client = connected
    stop = threading.Event()

    def trickle() -> None:  # never silent long enough for a per-read timeout to fire
        client.sendall(b"0123456789")
        while not stop.wait(0.05):
            client.sendall(b".")

    sender = threading.Thread(target=trickle)
    sender.start()
    reached = []
    app = BodyDeadline(lambda env, sr: reached.append(env) or [], seconds=0.3)
    environ = environ_with(server.makefile("rb"), "100000", **{"gunicorn.socket": server})
    try:
        status, _, body = call(app, environ)
    finally:
        stop.set()
        sender.join(10)
    assert (status, body["error"]) == (408, "request_timeout")
    assert reached == []  # the app never waited on it


def test_a_body_that_arrives_in_time_on_a_socket_is_read(connected):
    server, client = connected
    client.sendall(b"hello")
    environ = environ_with(server.makefile("rb"), "5", **{"gunicorn.socket": server})
    status, _, seen = call(BodyDeadline(echo_app, seconds=5), environ)
    assert (status, seen["body"]) == (200, "hello")
    server.sendall(b"reply")  # the connection still answers
    assert client.recv(5) == b"reply"


def test_without_a_socket_a_body_still_arriving_at_the_deadline_is_refused():
    class Slow:
        def read(self, size: int) -> bytes:
            time.sleep(0.05)
            return b"x"

    status, _, body = call(BodyDeadline(echo_app, seconds=0.2), environ_with(Slow(), "1000"))
    assert (status, body["error"]) == (408, "request_timeout")


def route_limit(environ) -> int:
    return {"/upload": 1000, "/small": 10}.get(environ["PATH_INFO"], 100)


def by_route(app, **options) -> BodyDeadline:
    return BodyDeadline(app, max_body=100, body_limit=route_limit, **options)


def test_a_body_over_its_routes_limit_is_left_unread_for_the_app():
    stream = io.BytesIO(b"x" * 50)
    seen = {}

    def refusing_app(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        start_response("413 Content Too Large", [("Content-Type", "application/json")])
        return [b"{}"]

    status, _, _ = call(by_route(refusing_app), environ_with(stream, "50", PATH_INFO="/small"))
    assert (status, seen["input"], stream.tell()) == (413, stream, 0)


def test_a_chunked_body_is_read_only_to_its_routes_limit():
    stream = io.BytesIO(b"y" * 80)
    environ = environ_with(stream, PATH_INFO="/small", HTTP_TRANSFER_ENCODING="chunked",
                           **{"wsgi.input_terminated": True})
    status, _, seen = call(by_route(echo_app), environ)
    assert (status, seen["length"], stream.tell()) == (200, "11", 11)  # the app refuses 11


def test_a_body_on_a_route_over_max_body_reaches_the_app_as_a_stream():
    stream = io.BytesIO(b"z" * 900)
    seen = {}

    def streaming_app(environ, start_response):
        before = stream.tell()
        chunks = iter(lambda: environ["wsgi.input"].read(64), b"")
        seen["read"] = (before, sum(len(chunk) for chunk in chunks))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    status, _, _ = call(by_route(streaming_app), environ_with(stream, "900", PATH_INFO="/upload"))
    assert (status, seen["read"]) == (200, (0, 900))  # nothing read into memory before it


def test_a_streamed_body_the_app_leaves_unread_is_not_waited_for(connected):
    server, client = connected
    client.sendall(b"partial")  # of 500 declared

    def refusing_app(environ, start_response):
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b"{}"]

    environ = environ_with(server.makefile("rb"), "500", PATH_INFO="/upload",
                           **{"gunicorn.socket": server})
    status, _, _ = call(by_route(refusing_app, seconds=30), environ)
    assert status == 401
    assert server.recv(100) == b"partial"  # what had come; then the end, not a wait
    assert server.recv(100) == b""


def streamed_read(server, client, **options) -> bytes:
    """What an app reading 1000 declared bytes of a streamed route gets, once 100 are sent."""
    client.sendall(b"a" * 100)
    got = []

    def reading_app(environ, start_response):
        got.append(environ["wsgi.input"].read(1000))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    environ = environ_with(server.makefile("rb"), "1000", PATH_INFO="/upload",
                           **{"gunicorn.socket": server})
    worker = threading.Thread(target=call, args=(by_route(reading_app, **options), environ))
    worker.start()
    return worker, got


def test_a_streamed_body_has_its_length_at_stream_rate_beyond_the_deadline(connected):
    server, client = connected
    worker, got = streamed_read(server, client, seconds=0.2, stream_rate=100)  # 10.2 s
    time.sleep(0.5)  # past seconds alone
    client.sendall(b"b" * 900)
    worker.join(15)
    assert got == [b"a" * 100 + b"b" * 900]


def test_a_streamed_body_still_arriving_past_its_deadline_is_cut_off(connected):
    server, client = connected
    worker, got = streamed_read(server, client, seconds=0.2, stream_rate=10**9)
    worker.join(15)  # the rest never comes: the read ends at the deadline, not never
    assert got == [b"a" * 100]
