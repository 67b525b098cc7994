"""Properties of the canonical signer (hypothesis): whatever the reference clients sign
verifies, and any single-byte change is refused."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversions.core import canonical
from tests.reliability.goal_signing import SIGNATURE_ERRORS, post, server_verifies
from tests.reliability.strategies import valid_goals, wild_goals


@settings(max_examples=300)
@given(case=wild_goals, tenant_id=st.uuids().map(str), secret=st.binary(min_size=32, max_size=32))
def test_whatever_the_python_client_signs_the_service_verifies(reference_client, case, tenant_id,
                                                               secret):
    signature, body, _ = reference_client.build(tenant_id, secret.hex(), **case)
    assert server_verifies(json.dumps(body).encode(), signature, tenant_id, secret)


@settings(max_examples=40)
@given(case=valid_goals)
def test_a_valid_goal_signed_by_the_python_client_is_accepted(client, tenant, reference_client,
                                                              case):
    signature, body, _ = reference_client.build(tenant["tenant_id"], tenant["pixel_secret"],
                                                **case)
    response = post(client, json.dumps(body).encode(), signature)
    assert response.status_code in (200, 202), response.get_json()


def node_sign(spec_dir, cases: list[dict]) -> list[dict]:
    """Sign every case with the Node reference client in one ``node`` run."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt-get install nodejs")
    script = spec_dir / "clients" / "loudpixel_client.js"
    run = subprocess.run([node, str(script)], input=json.dumps(cases), capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(run.stdout)


@settings(max_examples=1)
@given(valid=st.lists(valid_goals, min_size=60, max_size=60),
       wild=st.lists(wild_goals, min_size=60, max_size=60))
def test_whatever_the_node_client_signs_the_service_verifies(client, tenant, spec_dir, valid,
                                                             wild):
    keys = {"tenant_id": tenant["tenant_id"], "secret_hex": tenant["pixel_secret"]}
    signed = node_sign(spec_dir, [{**keys, **case} for case in valid + wild])
    for index, case in enumerate(signed):
        response = post(client, case["body"].encode(), case["signature"])
        if index < len(valid):
            assert response.status_code in (200, 202), (case, response.get_json())
        else:
            assert response.status_code < 500, case
            if response.status_code >= 400:
                assert response.get_json()["error"] not in SIGNATURE_ERRORS, case


@settings(max_examples=60)
@given(case=valid_goals, data=st.data())
def test_any_single_byte_change_to_a_signed_body_is_refused(client, tenant, reference_client,
                                                            case, data):
    signature, body, canon = reference_client.build(tenant["tenant_id"], tenant["pixel_secret"],
                                                    **case)
    raw = json.dumps(body).encode()
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]), label="byte")
    changed = raw[:position] + bytes([byte]) + raw[position + 1:]
    response = post(client, changed, signature)
    try:
        same_payload = canon in canonical.renderings(canonical.parse_body(changed),
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
def test_any_change_to_a_signed_field_or_the_signature_is_refused(client, tenant,
                                                                  reference_client, case, data):
    signature, body, _ = reference_client.build(tenant["tenant_id"], tenant["pixel_secret"],
                                                **case)
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
    response = post(client, json.dumps(body).encode(), signature)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_signature"
