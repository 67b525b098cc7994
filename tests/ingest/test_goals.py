"""``POST /api/v1/track/pixel/goal`` through the app and its middleware, in process."""
from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from conversions_client import SignedGoal, canonical_goal, sign_goal

from conversions.store.database import connection
from conversions.store.models import Event
from tests.support import GOAL, goal_mac, post_goal_body, wsgi_layer
from wsgi_hmac import HmacMiddleware


def build(tenant, **kwargs) -> SignedGoal:
    """A goal signed by the project's Python client, as a customer's server signs it."""
    kwargs.setdefault("event_name", "purchase")
    kwargs.setdefault("session_id", "sess_1")
    return sign_goal(tenant["tenant_id"], tenant["pixel_secret"], **kwargs)


def stored() -> list[Event]:
    with connection():
        return list(Event.select().order_by(Event.id))


@pytest.mark.parametrize("side", ["escaped", "raw"])
def test_every_vector_is_accepted(client, vectors, vector_tenants, side):
    for case, domain in zip(vectors, vector_tenants, strict=True):
        response = post_goal_body(client, case[side]["body"].encode(), case[side]["signature"],
                                  f"/api/v1/track/pixel/goal?domain={domain}")
        assert response.status_code == 202, (case["name"], response.json)
    assert len(stored()) == len(vectors)


def test_every_rendering_and_equivalent_body_of_a_vector_is_the_same_event(client, vectors,
                                                                           vector_tenants):
    """Either signature verifies either body, and any equivalent body: one event each."""
    for case, domain in zip(vectors, vector_tenants, strict=True):
        url = f"/api/v1/track/pixel/goal?domain={domain}"
        bodies = [case["escaped"]["body"], case["raw"]["body"],
                  *case.get("equivalent_bodies", [])]
        answers = [post_goal_body(client, body.encode(), case[side]["signature"], url)
                   for body in bodies for side in ("escaped", "raw")]
        assert [answer.status_code for answer in answers] == [202] + [200] * (len(answers) - 1), \
            (case["name"], [answer.json for answer in answers])
        assert {answer.json["event_id"] for answer in answers} == {answers[0].json["event_id"]}
    assert len(stored()) == len(vectors)


def test_accepted_goal_is_stored_with_every_field(client, tenant):
    signed = build(tenant, value=1234.5, currency="eur", plan="pro",
                   first_touch_bucket="ai_search", first_touch_ts="2026-11-01T10:15:00Z")
    response = post_goal_body(client, signed.body, signed.signature)
    assert response.status_code == 202
    assert response.json["duplicate"] is False
    (event,) = stored()
    assert str(event.id) == response.json["event_id"]
    assert event.tenant_id == tenant["tenant_id"]
    assert (event.source_type, event.signed, event.event_name) == ("goal", True, "purchase")
    assert event.value == Decimal("1234.50")
    assert event.currency == "EUR"
    assert event.session_id == "sess_1"
    assert json.loads(event.properties) == {"plan": "pro"}
    assert event.first_touch_bucket == "ai_search"
    assert event.first_touch_ts == "2026-11-01T10:15:00Z"
    assert event.received_at_ms >= event.occurred_at_ms > 0


def test_replay_is_acknowledged_as_duplicate_and_stored_once(client, tenant):
    signed = build(tenant, value=10, currency="USD")
    first, again = (post_goal_body(client, signed.body, signed.signature),
                    post_goal_body(client, signed.body, signed.signature))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json == {"event_id": first.json["event_id"], "duplicate": True}
    assert len(stored()) == 1


@pytest.mark.parametrize(
    ("field", "tampered"),
    [
        pytest.param("event_name", "refund", id="event_name"),
        pytest.param("session_id", "sess_2", id="session_id"),
        pytest.param("value", 10.01, id="value"),
        pytest.param("currency", "EUR", id="currency"),
        pytest.param("plan", "free", id="plan"),
        pytest.param("first_touch_bucket", "search", id="first_touch_bucket"),
        pytest.param("first_touch_ts", "2026-11-02T10:15:00Z", id="first_touch_ts"),
    ],
)
def test_tampering_any_signed_field_is_refused(client, tenant, field, tampered):
    signed = build(tenant, value=10, currency="USD", plan="pro",
                   first_touch_bucket="ai_search", first_touch_ts="2026-11-01T10:15:00Z")
    body = json.loads(signed.body)
    target = body["properties"] if field in ("value", "currency", "plan") else body
    target[field] = tampered
    response = post_goal_body(client, body, signed.signature)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"
    assert stored() == []


def test_signature_over_another_tenant_id_is_refused(client, tenant):
    signed = build(tenant)
    forged = signed.canonical.replace(tenant["tenant_id"].encode(),
                                      b"00000000-0000-0000-0000-000000000000")
    signature = goal_mac(bytes.fromhex(tenant["pixel_secret"]), forged)
    assert post_goal_body(client, signed.body, signature).status_code == 401


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        pytest.param(None, "missing_signature", id="missing-header"),
        pytest.param("", "missing_signature", id="empty-header"),
        pytest.param("not hex", "invalid_signature", id="not-hex"),
        pytest.param("ab" * 32, "invalid_signature", id="wrong"),
    ],
)
def test_bad_signature_headers_are_refused(client, tenant, signature, error):
    response = post_goal_body(client, build(tenant).body, signature)
    assert (response.status_code, response.json["error"]) == (401, error)


def test_hex_secret_used_as_text_instead_of_bytes_is_refused(client, tenant):
    signed = build(tenant)
    as_text = hmac.new(tenant["pixel_secret"].encode(), signed.canonical,
                       hashlib.sha256).hexdigest()
    assert post_goal_body(client, signed.body, as_text).status_code == 401


def test_wrong_secret_is_refused(client, tenant):
    signed = sign_goal(tenant["tenant_id"], "11" * 32, "purchase", "s")
    answer = post_goal_body(client, signed.body, signed.signature)
    assert answer.json["error"] == "invalid_signature"


@pytest.mark.parametrize(
    ("url", "status", "error"),
    [
        pytest.param("/api/v1/track/pixel/goal", 400, "missing_domain", id="no-domain"),
        pytest.param("/api/v1/track/pixel/goal?domain=", 400, "missing_domain", id="empty"),
        pytest.param("/api/v1/track/pixel/goal?domain=nobody.example", 404, "unknown_domain",
                     id="unknown"),
        pytest.param("/api/v1/track/pixel/goal?domain=shop%00.example.com", 404,
                     "unknown_domain", id="nul"),  # was a 500 on PostgreSQL
    ],
)
def test_domain_is_required_and_must_be_registered(client, tenant, url, status, error):
    signed = build(tenant)
    response = post_goal_body(client, signed.body, signed.signature, url)
    assert (response.status_code, response.json["error"]) == (status, error)


def test_store_unreachable_while_finding_the_keys_is_a_503(client, tenant):
    from conversions.store.database import connect, database

    database.initialize(connect("postgresql://nobody@127.0.0.1:1/conversions"))
    signed = build(tenant)
    response = post_goal_body(client, signed.body, signed.signature)
    assert (response.status_code, response.json["error"]) == (503, "store_unavailable")
    assert response.headers["Retry-After"] == "2"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b'{"event_name": NaN}', id="nan"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="deeply-nested"),
    ],
)
def test_body_that_is_not_a_json_object_is_refused(client, tenant, raw):
    response = post_goal_body(client, raw, "00" * 32)
    assert (response.status_code, response.json["error"]) == (400, "invalid_json")


def test_oversize_body_is_refused_before_anything_else(client, tenant):
    response = post_goal_body(client, b"{" + b" " * (64 * 1024) + b"}", "00" * 32)
    assert (response.status_code, response.json["error"]) == (413, "payload_too_large")


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        pytest.param({"session_id": "jane@example.com"}, "session_id", id="email-in-session"),
        pytest.param({"plan": "call 555-123-4567"}, "properties.plan", id="phone-in-plan"),
        pytest.param({"plan": "+44 20 7946 0958"}, "properties.plan", id="intl-phone"),
        pytest.param({"event_name": "ssn 123-45-6789"}, "event_name", id="ssn-in-name"),
        pytest.param({"first_touch_bucket": "a@b.io"}, "first_touch_bucket", id="email-bucket"),
    ],
)
def test_goal_with_pii_is_rejected(client, tenant, kwargs, where):
    signed = build(tenant, **kwargs)
    response = post_goal_body(client, signed.body, signed.signature)
    assert response.status_code == 400
    assert response.json["error"] == "pii_rejected"
    assert where in response.json["fields"]
    assert "@" not in json.dumps(response.json["fields"])
    assert stored() == []


def signed_raw(tenant, body: dict) -> tuple[dict, str]:
    """Sign an arbitrary body (one the rules refuse) as the Python client canonicalises it."""
    return body, goal_mac(bytes.fromhex(tenant["pixel_secret"]),
                          canonical_goal(body, tenant["tenant_id"]))


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        pytest.param({"value": -1}, "properties.value", id="negative"),
        pytest.param({"value": 10000.01}, "properties.value", id="over-10000"),
        # Beyond 28 significant digits: the canonical rendering must not fail (was a 500).
        pytest.param({"value": 1e30}, "properties.value", id="huge-float"),
        pytest.param({"value": 10**30}, "properties.value", id="huge-integer"),
        pytest.param({"value": 1.234}, "properties.value", id="three-decimals"),
        pytest.param({"value": True}, "properties.value", id="boolean"),
        pytest.param({"value": "12.00"}, "properties.value", id="string"),
        pytest.param({"currency": "usdx"}, "properties.currency", id="currency-length"),
        pytest.param({"currency": "ABC"}, "properties.currency", id="currency-unknown"),
        pytest.param({"currency": 840}, "properties.currency", id="currency-number"),
        pytest.param({"plan": "x" * 51}, "properties.plan", id="plan-too-long"),
        pytest.param({"plan": 5}, "properties.plan", id="plan-number"),
        pytest.param({"coupon": "SAVE"}, "properties.coupon", id="unknown-property"),
    ],
)
def test_property_rules(client, tenant, properties, field):
    body, sig = signed_raw(tenant,
                           {"event_name": "purchase", "session_id": "s", "properties": properties})
    response = post_goal_body(client, body, sig)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_event"
    assert field in response.json["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"session_id": "s", "properties": {}}, "event_name", id="no-event-name"),
        pytest.param({"event_name": "", "properties": {}}, "event_name", id="empty-event-name"),
        pytest.param({"event_name": "x" * 65, "properties": {}}, "event_name", id="long-name"),
        pytest.param({"event_name": "p", "properties": [1]}, "properties", id="properties-list"),
        pytest.param({"event_name": "p", "properties": {}, "first_touch_ts": "yesterday"},
                     "first_touch_ts", id="first-touch-not-iso"),
        pytest.param({"event_name": "p", "properties": {}, "first_touch_bucket": 3},
                     "first_touch_bucket", id="bucket-number"),
        pytest.param({"event_name": "p", "session_id": "s\x00", "properties": {}}, "session_id",
                     id="session-id-nul"),
        pytest.param({"event_name": "p", "properties": {}, "first_touch_bucket": "ai\x00"},
                     "first_touch_bucket", id="bucket-nul"),
    ],
)
def test_field_rules(client, tenant, body, field):
    body, sig = signed_raw(tenant, body)
    response = post_goal_body(client, body, sig)
    assert (response.status_code, response.json["error"]) == (400, "invalid_event")
    assert field in response.json["fields"]


@pytest.mark.parametrize(
    ("bucket", "ts", "honored"),
    [
        pytest.param("ai_search", "2026-11-01T10:15:00Z", True, id="recent"),
        pytest.param("organic", "2026-11-01T10:15:00Z", True, id="other-bucket-not-error"),
        pytest.param("ai_search", "2025-01-01T00:00:00Z", False, id="older-than-180-days"),
        pytest.param("ai_search", "2027-01-01T00:00:00Z", False, id="in-the-future"),
    ],
)
def test_first_touch_is_honored_only_within_180_days(app, client, tenant, bucket, ts, honored,
                                                     frozen_clock):
    frozen_clock.now = 1795600000.0  # 2026-11-24
    signed = build(tenant, value=5, currency="USD", first_touch_bucket=bucket,
                   first_touch_ts=ts)
    assert post_goal_body(client, signed.body, signed.signature).status_code == 202
    (event,) = stored()
    assert event.first_touch_bucket == bucket
    assert (event.first_touch_at_ms is not None) is honored


def test_unverified_request_never_reaches_storage(app):
    """The view refuses if the app is ever served without the middleware."""
    bare = wsgi_layer(app, HmacMiddleware).app  # the Flask WSGI callable under the middleware
    from werkzeug.test import Client
    response = Client(bare).post(GOAL, data=b'{"event_name":"x"}',
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert stored() == []
