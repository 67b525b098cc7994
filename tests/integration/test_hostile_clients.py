"""A real gunicorn, as ``make run`` serves it (config/gunicorn.conf.py, 2 workers of 8 threads),
against clients that misbehave: senders that trickle their bodies, query strings that hold
personal data, and requests signed with a secret rotated away a moment before."""
from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from tests.support import Server, http, post_goal, served_database

pytestmark = pytest.mark.slow

SLOW_SENDERS = 16  # as many as the server has threads


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn on its own database with one tenant; yields (server, tenant, log path)."""
    tmp = tmp_path_factory.mktemp("hostile")
    url, (tenant,) = served_database(tmp, ("hostile.example.com", "hostile-buyer"))
    log = tmp / "gunicorn.log"
    env = {"DATABASE_URL": url, "CONVERSIONS_BODY_TIMEOUT_SECONDS": "2",
           # Long enough that only an invalidation, never the cache's age, can explain a
           # rotation taking effect within the test.
           "CONVERSIONS_KEY_CACHE_SECONDS": "600",
           "CONVERSIONS_SIGNATURE_FAILURE_LIMIT": "100000 per minute"}
    with Server(env, log_path=log) as server:
        yield server, tenant, log


def slow_sender(server, stop: threading.Event, answers: list[bytes]) -> None:
    """Declare a 1,000-byte body, send 10 bytes, then a byte every half second."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/conversions/pixel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\nbuyer_id=h")
        try:
            while not stop.wait(0.5):
                sock.sendall(b"x")
        except OSError:  # the server cut it off
            pass
        try:
            answers.append(sock.recv(200))
        except OSError:
            answers.append(b"")


def healthz(server) -> int:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=15) as response:
        return response.status


def test_health_is_answered_while_slow_senders_hold_connections(served):
    server, _, _ = served
    stop, answers = threading.Event(), []
    senders = [threading.Thread(target=slow_sender, args=(server, stop, answers))
               for _ in range(SLOW_SENDERS)]
    for sender in senders:
        sender.start()
    try:
        # Every probe is answered although every sender keeps trickling (none gives up).
        assert [healthz(server) for _ in range(6)] == [200] * 6
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)
    statuses = sorted({answer[9:12] for answer in answers})
    assert set(statuses) <= {b"408", b"503", b""}, statuses
    assert b"408" in statuses  # the senders that got a reader were cut off at the deadline


def test_the_access_log_keeps_the_path_but_never_the_query_string(served):
    server, _, log = served
    status, _, _ = http("GET", f"{server.url}/api/conversions/pixel?buyer_id=hostile-buyer"
                        "&event_name=view&note=someone%40example.com")
    assert status == 400  # pii_rejected: the service refuses it...
    written = '"GET /api/conversions/pixel HTTP/1.1" 400'
    # gunicorn writes the line once the answer is sent, so it may land a moment after.
    deadline = time.monotonic() + 15
    while written not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in log.read_text().splitlines() if "/api/conversions/pixel" in line]
    assert any(written in line for line in lines)
    assert all("example.com" not in line and "?" not in line for line in lines)  # ...nor its log


def test_a_rotation_without_grace_ends_the_old_secret_at_once_in_every_worker(served):
    from conversions.store.database import connection
    from conversions.tenants import accounts

    server, tenant, _ = served
    old = tenant["pixel_secret"]
    # Enough requests that both workers (and their threads) have the keys cached.
    assert {post_goal(server, tenant, key=old).status_code for _ in range(30)} == {202}
    with connection():  # another process, as the CLI or the settings page of another worker
        new = accounts.rotate(tenant["tenant_id"], "pixel", 0)["pixel_secret"]
    refused = [post_goal(server, tenant, key=old) for _ in range(30)]
    assert {(answer.status_code, answer.get_json()["error"]) for answer in refused} \
        == {(401, "invalid_signature")}
    assert {post_goal(server, tenant, key=new).status_code for _ in range(10)} == {202}
