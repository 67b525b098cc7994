"""Properties of goal signing (hypothesis): whatever the project's clients sign verifies, and
any single-byte change is refused."""
from __future__ import annotations

import json

from conversions_client import sign_goal
from hypothesis import given, settings
from hypothesis import strategies as st

from conversions.core import canonical
from tests.reliability.strategies import valid_goals, wild_goals
from tests.support import SIGNATURE_ERRORS, post_goal_body, run_node, server_verifies


@settings(max_examples=300)
@given(case=wild_goals, tenant_id=st.uuids().map(str), secret=st.binary(min_size=32, max_size=32),
       escape=st.booleans())
def test_whatever_the_python_client_signs_the_service_verifies(case, tenant_id, secret, escape):
    signed = sign_goal(tenant_id, secret.hex(), escape_non_ascii=escape, **case)
    assert server_verifies(signed.body, signed.signature, tenant_id, secret)


@settings(max_examples=40)
@given(case=valid_goals, escape=st.booleans())
def test_a_valid_goal_signed_by_the_python_client_is_accepted(client, tenant, case, escape):
    signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], escape_non_ascii=escape,
                       **case)
    response = post_goal_body(client, signed.body, signed.signature)
    assert response.status_code in (200, 202), response.get_json()


NODE_SIGNER = """
import { signGoal } from "./clients/js/index.js";
const [tenantId, pixelSecret, cases] = process.argv.slice(2);
console.log(JSON.stringify(JSON.parse(cases).map((options) => {
  const signed = signGoal({ tenantId, pixelSecret, ...options });
  return { body: signed.body, signature: signed.signature };
})));
"""
CAMEL = {"event_name": "eventName", "session_id": "sessionId",
         "first_touch_bucket": "firstTouchBucket", "first_touch_ts": "firstTouchTs"}


def node_sign(tenant: dict, cases: list[dict]) -> list[dict]:
    """Sign every case with clients/js in one ``node`` run, escaped and raw in turn."""
    options = [{CAMEL.get(name, name): given for name, given in case.items()}
               | {"escapeNonAscii": index % 2 == 0} for index, case in enumerate(cases)]
    return json.loads(run_node(NODE_SIGNER, tenant["tenant_id"], tenant["pixel_secret"],
                               json.dumps(options)))


@settings(max_examples=1)
@given(valid=st.lists(valid_goals, min_size=60, max_size=60),
       wild=st.lists(wild_goals, min_size=60, max_size=60))
def test_whatever_the_js_client_signs_the_service_verifies(client, tenant, valid, wild):
    signed = node_sign(tenant, valid + wild)
    for index, case in enumerate(signed):
        response = post_goal_body(client, case["body"].encode(), case["signature"])
        if index < len(valid):
            assert response.status_code in (200, 202), (case, response.get_json())
        else:
            assert response.status_code < 500, case
            if response.status_code >= 400:
                assert response.get_json()["error"] not in SIGNATURE_ERRORS, case


@settings(max_examples=60)
@given(case=valid_goals, data=st.data())
def test_any_single_byte_change_to_a_signed_body_is_refused(client, tenant, case, data):
    signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], **case)
    raw = signed.body
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]), label="byte")
    changed = raw[:position] + bytes([byte]) + raw[position + 1:]
    response = post_goal_body(client, changed, signed.signature)
    try:
        same_payload = signed.canonical in canonical.renderings(canonical.parse_body(changed),
                                                     tenant["tenant_id"])
    except canonical.NotJson:
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_json"
        return
    if not same_payload:  # e.g. only JSON spacing changed: same event, may be accepted
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_signature"


@settings(max_examples=60)
@given(case=valid_goals, data=st.data())
def test_any_change_to_a_signed_field_or_the_signature_is_refused(client, tenant, case, data):
    signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], **case)
    signature, body = signed.signature, json.loads(signed.body)
    texts = [name for name in ("event_name", "session_id", "first_touch_bucket",
                               "first_touch_ts") if body.get(name)]
    target = data.draw(st.sampled_from([*texts, "signature"]), label="target")
    original = signature if target == "signature" else body[target]
    index = data.draw(st.integers(0, len(original) - 1), label="index")
    alphabet = "0123456789abcdef" if target == "signature" else "aZ_é9"
    char = data.draw(st.sampled_from(alphabet).filter(lambda c: c != original[index]))
    changed = original[:index] + char + original[index + 1:]
    if target == "signature":
        signature = changed
    else:
        body = {**body, target: changed}
    response = post_goal_body(client, json.dumps(body).encode(), signature)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_signature"
