"""Postbacks against a real gunicorn, as the providers send them; the access log never
shows the token."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

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
