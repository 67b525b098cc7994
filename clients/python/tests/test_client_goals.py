"""``sign_goal`` and ``canonical_goal``: the rules of docs/signing.md, one test each."""
from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error

import pytest
from conversions_client import canonical_goal, send_goal, sign_goal

TENANT = "4e56962b-dbaa-4370-a204-c648b083073b"
SECRET = "e9" * 32


def test_signature_is_hmac_sha256_of_the_canonical_keyed_by_the_secret_bytes():
    signed = sign_goal(TENANT, SECRET, "purchase", "sess_1", value=12.5, currency="USD")
    assert signed.canonical == (b'{"event_name":"purchase","properties":{"currency":"USD",'
                                b'"value":"12.50"},"session_id":"sess_1","tenant_id":"'
                                + TENANT.encode() + b'"}')
    assert signed.signature == hmac.new(bytes.fromhex(SECRET), signed.canonical,
                                        hashlib.sha256).hexdigest()
    assert signed.headers == {"Content-Type": "application/json",
                              "X-LP-Goal-Signature": signed.signature}


def test_body_holds_what_was_given_in_the_order_clients_write_it():
    signed = sign_goal(TENANT, SECRET, "purchase", "s", value=0, plan="pro",
                       first_touch_bucket="ai_search", first_touch_ts="2026-11-01T10:15:00Z")
    assert signed.body == (b'{"event_name":"purchase","session_id":"s","properties":{"value":0,'
                           b'"plan":"pro"},"first_touch_bucket":"ai_search",'
                           b'"first_touch_ts":"2026-11-01T10:15:00Z"}')


def test_a_value_of_zero_is_signed_not_dropped():
    assert b'"value":"0.00"' in sign_goal(TENANT, SECRET, "purchase", value=0).canonical


def test_absent_session_id_is_left_out_of_the_body_and_signed_as_empty():
    signed = sign_goal(TENANT, SECRET, "purchase")
    assert "session_id" not in json.loads(signed.body)
    assert b'"session_id":""' in signed.canonical
    assert signed.canonical == sign_goal(TENANT, SECRET, "purchase", "").canonical


@pytest.mark.parametrize("secret", [
    pytest.param("e9" * 31, id="too-short"),
    pytest.param("zz" * 32, id="not-hex"),
    pytest.param("whsec_" + "A" * 44, id="webhook-secret"),
])
def test_a_secret_that_is_not_64_hex_characters_is_refused(secret):
    with pytest.raises(ValueError, match="64 hex characters"):
        sign_goal(TENANT, secret, "purchase")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_value_that_is_not_finite_is_refused(value):
    with pytest.raises(ValueError, match="finite"):
        sign_goal(TENANT, SECRET, "purchase", value=value)


def test_non_ascii_is_escaped_by_default_and_raw_on_request():
    escaped = sign_goal(TENANT, SECRET, "achat", plan="pr\u00e9mium \U0001f680")
    raw = sign_goal(TENANT, SECRET, "achat", plan="pr\u00e9mium \U0001f680",
                    escape_non_ascii=False)
    assert b'"plan":"pr\\u00e9mium \\ud83d\\ude80"' in escaped.canonical
    assert '"plan":"pr\u00e9mium \U0001f680"'.encode() in raw.canonical
    assert escaped.body.isascii()
    assert json.loads(escaped.body) == json.loads(raw.body)
    assert escaped.signature != raw.signature


def test_a_lone_surrogate_can_be_signed_escaped_but_not_raw():
    assert b"\\ud800" in sign_goal(TENANT, SECRET, "purchase", plan="\ud800").canonical
    with pytest.raises(ValueError, match="lone surrogate"):
        sign_goal(TENANT, SECRET, "purchase", plan="\ud800", escape_non_ascii=False)


@pytest.mark.parametrize(("body", "signed"), [
    pytest.param({"event_name": "p", "properties": {"value": "12"}},
                 b'"properties":{"value":"12.00"}', id="numeric-text-value"),
    pytest.param({"event_name": "p", "properties": {"value": "ten"}},
                 b'"properties":{"value":"ten"}', id="text-value-as-is"),
    pytest.param({"event_name": "p", "properties": [1]}, b'"properties":[1]', id="list"),
    pytest.param({"event_name": "p"}, b'"properties":{}', id="no-properties"),
    pytest.param({"event_name": "p", "properties": {"z": 1, "a": {"y": 2, "b": 3}}},
                 b'"properties":{"a":{"b":3,"y":2},"z":1}', id="sorted-at-every-level"),
    pytest.param({"event_name": "p", "first_touch_bucket": "", "first_touch_ts": None},
                 b'"properties":{},"session_id":"",', id="empty-first-touch-left-out"),
])
def test_canonical_of_any_body(body, signed):
    assert signed in canonical_goal(body, TENANT)


def test_send_goal_refuses_a_base_url_that_is_not_http():
    with pytest.raises(ValueError, match="http"):
        send_goal("file:///etc/passwd", "shop.example.com", TENANT, SECRET, "purchase")


def test_send_goal_to_a_closed_port_raises_a_url_error(unused_port):
    with pytest.raises(urllib.error.URLError):
        send_goal(f"http://127.0.0.1:{unused_port}", "shop.example.com", TENANT, SECRET,
                  "purchase", timeout=2)
