"""Signed goals against a real gunicorn, sent as outside clients would send them."""
from __future__ import annotations

import json

import pytest

from tests.support import Server, http, served_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, vectors):
    """gunicorn (2 workers) on its own database, with every vector's tenant registered."""
    from tests.support import seed_tenant

    tmp = tmp_path_factory.mktemp("goal-server")
    url, _ = served_database(tmp)
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


def test_malformed_requests_never_get_a_500(server):
    for body, headers in [
        (b"", {}),
        (b"{", {"X-LP-Goal-Signature": "00"}),
        (b"\x00" * 10, {"X-LP-Goal-Signature": "zz", "Content-Type": "text/plain"}),
    ]:
        status, _, _ = http("POST", f"{server.url}/api/v1/track/pixel/goal?domain=vector-0.example",
                            body, headers)
        assert 400 <= status < 500
