"""Signed goals against a real gunicorn, sent as outside clients would send them."""
from __future__ import annotations

import json
import uuid

import pytest
from conversions_client import send_goal

from tests.support import Server, http, run_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, vectors):
    """gunicorn (2 workers) on its own database, with every vector's tenant registered."""
    from tests.conftest import seed_tenant
    from tests.support import test_database_url

    tmp = tmp_path_factory.mktemp("goal-server")
    url = test_database_url(tmp)
    from app import create_app
    from conversions.db import connection
    from tests.support import empty_database

    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text"})
    with connection():
        empty_database()
    for index, case in enumerate(vectors):
        seed_tenant(case["tenant_id"], f"vector-{index}.example", case["pixel_secret"])
    # The byte-flipping test sends hundreds of bad signatures from one address on purpose.
    env = {"DATABASE_URL": url, "CONVERSIONS_SIGNATURE_FAILURE_LIMIT": "100000 per minute"}
    with Server(env, log_path=tmp / "gunicorn.log") as running:
        yield running


def goal(server, domain, body: bytes, signature: str):
    return http("POST", f"{server.url}/api/v1/track/pixel/goal?domain={domain}", body,
                {"Content-Type": "application/json", "X-LP-Goal-Signature": signature})


@pytest.mark.parametrize("side", ["escaped", "raw"])
def test_every_vector_body_is_accepted_by_the_server(server, vectors, side):
    for index, case in enumerate(vectors):
        status, _, body = goal(server, f"vector-{index}.example", case[side]["body"].encode(),
                               case[side]["signature"])
        assert status in (200, 202), (case["name"], side, body)


def test_changing_any_byte_of_a_signed_body_is_refused(server, vectors):
    case = vectors[0]["escaped"]
    original = case["body"].encode()
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 0x01
        status, _, body = goal(server, "vector-0.example", bytes(flipped), case["signature"])
        # A byte outside the signed fields (JSON spacing) may leave the payload the same.
        assert status in (400, 401, 200), (position, status, body)
        if status == 200:
            assert json.loads(bytes(flipped)) == json.loads(original)


def richest(vectors) -> tuple[int, dict]:
    """The vector with every field, its tenant registered as ``vector-<index>.example``."""
    return next((index, case) for index, case in enumerate(vectors)
                if case["name"] == "everything-non-ascii")


@pytest.mark.parametrize("escape_non_ascii", [True, False], ids=["escaped", "raw"])
def test_python_client_as_an_outside_client(server, vectors, escape_non_ascii):
    index, case = richest(vectors)
    session = f"py-{uuid.uuid4()}-\u00e9"
    answers = [send_goal(server.url, f"vector-{index}.example", case["tenant_id"],
                         case["pixel_secret"], "purchase", session, value=42.5, currency="USD",
                         plan="pr\u00e9mium", first_touch_bucket="ai_search",
                         first_touch_ts="2026-11-20T08:00:00Z",
                         escape_non_ascii=escape_non_ascii) for _ in range(2)]
    assert [answer.status for answer in answers] == [202, 200], answers[0].body
    assert answers[1].json() == {"event_id": answers[0].json()["event_id"], "duplicate": True}


NODE_SENDER = """
import { sendGoal } from "./clients/js/index.js";
const [baseUrl, cases] = [process.argv[2], JSON.parse(process.argv[3])];
const statuses = [];
for (const options of cases) {
  for (const escapeNonAscii of [true, false]) {
    const answer = await sendGoal({ baseUrl, ...options, escapeNonAscii });
    statuses.push([answer.status, await answer.json()]);
  }
}
console.log(JSON.stringify(statuses));
"""


def test_js_client_as_an_outside_client(server, vectors):
    index, case = richest(vectors)
    cases = [{"domain": f"vector-{index}.example", "tenantId": case["tenant_id"],
              "pixelSecret": case["pixel_secret"], "eventName": "achat_confirm\u00e9",
              "sessionId": f"node-{uuid.uuid4()}-{n}-\u00e9", "value": value, "currency": "EUR",
              "plan": "\u65e5\u672c\u8a9e \U0001f680", "firstTouchBucket": "ai_search",
              "firstTouchTs": "2026-11-20T08:00:00Z"} for n, value in enumerate([0, 9999.99])]
    answers = json.loads(run_node(NODE_SENDER, server.url, json.dumps(cases)))
    # Each goal sent escaped, then raw: the same event, so the second is a duplicate.
    assert [status for status, _ in answers] == [202, 200, 202, 200], answers
    assert answers[0][1]["event_id"] == answers[1][1]["event_id"]


def test_malformed_requests_never_get_a_500(server):
    for body, headers in [
        (b"", {}),
        (b"{", {"X-LP-Goal-Signature": "00"}),
        (b"\x00" * 10, {"X-LP-Goal-Signature": "zz", "Content-Type": "text/plain"}),
    ]:
        status, _, _ = http("POST", f"{server.url}/api/v1/track/pixel/goal?domain=vector-0.example",
                            body, headers)
        assert 400 <= status < 500
