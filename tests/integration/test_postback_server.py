"""Postbacks against a real gunicorn, as the providers send them; no log line shows the
token."""
from __future__ import annotations

import json
import socket
from urllib.parse import urlencode

import pytest

from tests import suite_checks
from tests.support import Server, http, served_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conversions.store.database import connection
    from conversions.tenants import postback_tokens

    tmp = tmp_path_factory.mktemp("postbacks")
    url, (tenant,) = served_database(tmp, ("shop.example.com", "buyer-1"))
    with connection():
        issued = postback_tokens.issue(tenant["tenant_id"], "http://unused")
    env = {"DATABASE_URL": url, "CONVERSIONS_LOG_FORMAT": "text",
           "CONVERSIONS_KEY_CACHE_SECONDS": "0"}
    with Server(env, workers=2, log_path=tmp / "gunicorn.log") as running:
        running.token = issued["token"]
        running.log_file = tmp / "gunicorn.log"
        yield running


def test_adjust_get_and_branch_post_are_stored_once_each(server):
    adjust = urlencode({"event_name": "purchase", "revenue": "1999", "currency": "eur",
                        "created_at": "", "adid": "18546f6171f67e29d1cb983322ad1329"})
    status, _, body = http("GET", f"{server.url}/api/conversions/postback/adjust/"
                                  f"{server.token}?{adjust}")
    assert status == 202, body
    again = http("GET", f"{server.url}/api/conversions/postback/adjust/{server.token}?{adjust}")
    assert again[0] == 200
    assert json.loads(again[2])["duplicate"] is True
    branch = json.dumps({"name": "PURCHASE", "id": "1",
                         "event_data": {"revenue": 5, "currency": "USD",
                                        "transaction_id": "t-1"}}).encode()
    status, _, body = http("POST", f"{server.url}/api/conversions/postback/branch/"
                                   f"{server.token}", branch,
                           {"Content-Type": "application/json"})
    assert status == 202, body


def test_the_access_log_masks_the_token(server):
    http("GET", f"{server.url}/api/conversions/postback/generic/{server.token}?event_name=x")
    server.stop()
    log = server.log_file.read_text()
    # The access log records the path without its query (which may hold what was refused).
    assert '"GET /api/conversions/postback/generic/[token] HTTP/1.1"' in log
    assert server.token not in log
    assert "event_name=x" not in log


def test_no_log_line_shows_the_token(tmp_path):
    """gunicorn's error and access logs and the service's own (JSON) lines mask the token: a
    postback stored, one the app fails on, one whose body never arrives, and a request line
    gunicorn refuses, quoting it."""
    from conversions.store.database import connection
    from conversions.tenants import postback_tokens

    url, (tenant,) = served_database(tmp_path, ("shop.example.com", "buyer-1"))
    with connection():
        token = postback_tokens.issue(tenant["tenant_id"], "http://unused")["token"]
    log = tmp_path / "gunicorn.log"
    path = f"/api/conversions/postback/generic/{token}"

    def raw(request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            return sock.recv(1000)

    with Server({"DATABASE_URL": url, "CONVERSIONS_KEY_CACHE_SECONDS": "0"}, workers=1,
                log_path=log) as server:
        assert http("GET", f"{server.url}{path}?event_name=lead")[0] == 202
        # Behind a provider that is none (gunicorn decodes the path it logs).
        assert http("GET", f"{server.url}/api/conversions/postback/a%20%22b/{token}")[0] == 404
        # Nested past the parser's recursion limit (it answered 500, a traceback logged).
        http("POST", f"{server.url}{path}", b'{"a":' * 3000 + b"1" + b"}" * 3000,
             {"Content-Type": "application/json"})
        assert raw(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
                   .encode()).startswith(b"HTTP/1.1 400")
        assert raw(f"GET  {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()).startswith(
            b"HTTP/1.1 400")
    text = log.read_text()
    assert suite_checks.leaks(text, {token}) == []
    masked = "/api/conversions/postback/generic/[token]"
    assert f'"GET {masked} HTTP/1.1" 202' in text  # the access log
    assert r'"GET /api/conversions/postback/a \"b/[token] HTTP/1.1" 404' in text
    assert f'"path": "{masked}"' in text  # the service's refusal, an incomplete body
    assert f"Invalid HTTP request line: 'GET  {masked} HTTP/1.1'" in text  # gunicorn's error log
