"""Text with a lone surrogate (JSON can escape one, ``"\\ud800"``, yet it is no Unicode text and no
store keeps it) is refused in every text field of every ingestion endpoint with 400
``invalid_event`` naming the field, never a 500 (hypothesis over fields and texts)."""
from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from conversions.core import canonical, clock
from conversions.store.database import connection
from conversions.store.models import IngestionFailure
from tests.reliability.strategies import SAFE_TEXT
from tests.support import goal_mac, post_goal_body
from tests.webhook_senders import hand_headers

# Some text with one lone surrogate in it (a high or low half alone).
with_surrogate = st.builds(lambda before, half, after: before + half + after,
                           st.text(SAFE_TEXT, max_size=8),
                           st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                           st.text(SAFE_TEXT, max_size=8))

GOAL = {"event_name": "purchase", "session_id": "s-1", "first_touch_bucket": "ai_search",
        "first_touch_ts": "2026-11-20T08:00:00Z",
        "properties": {"value": 10, "currency": "USD", "plan": "pro"}}
GOAL_FIELDS = ["event_name", "session_id", "first_touch_bucket", "first_touch_ts",
               "properties.value", "properties.currency", "properties.plan"]

WEBHOOK_FIELDS = ["event_name", "event_value", "currency", "event_id", "event_ts",
                  "properties.note", "properties.nested.tags[0]"]
PIXEL_FIELDS = ["buyer_id", "event_name", "event_value", "currency", "event_id", "event_ts",
                "source_type", "cache_buster"]


def webhook_event() -> dict:
    return {"event_name": "purchase", "event_value": "12.50", "currency": "USD",
            "event_ts": str(int(clock.now()) - 60), "event_id": "order-1",
            "properties": {"note": "fine", "nested": {"tags": ["a"]}}}


def put(body: dict, path: str, text: str) -> dict:
    """``body`` with the field at ``path`` (``a.b``, ``a.b[0]``) set to ``text``."""
    body = copy.deepcopy(body)
    *parents, last = path.replace("[0]", ".0").split(".")
    place = body
    for name in parents:
        place = place[int(name)] if name.isdigit() else place[name]
    place[int(last) if last.isdigit() else last] = text
    return body


def sign_and_post_goal(client, tenant, body: dict):
    raw = json.dumps(body).encode()  # ensure_ascii: the surrogate goes as a \\u escape
    rendering = canonical.renderings(canonical.parse_body(raw), tenant["tenant_id"])[0]
    return post_goal_body(client, raw, goal_mac(bytes.fromhex(tenant["pixel_secret"]), rendering))


def assert_refused(response, field: str) -> None:
    assert response.status_code == 400, response.get_json()
    assert response.json["error"] == "invalid_event"
    assert field in response.json["fields"]


@settings(max_examples=60)
@given(field=st.sampled_from(GOAL_FIELDS), text=with_surrogate)
def test_a_signed_goal_with_a_lone_surrogate_in_any_field_is_invalid(client, tenant, field,
                                                                     text):
    assert_refused(sign_and_post_goal(client, tenant, put(GOAL, field, text)), field)


@settings(max_examples=60)
@given(field=st.sampled_from(WEBHOOK_FIELDS), text=with_surrogate)
def test_a_webhook_with_a_lone_surrogate_in_any_field_is_invalid(client, tenant, field, text):
    body = json.dumps(put(webhook_event(), field, text)).encode()
    response = client.post("/api/conversions/webhook?buyer_id=buyer-1", data=body,
                           headers=hand_headers([tenant["webhook_secret"]], body))
    assert_refused(response, field)


@settings(max_examples=30)
@given(text=with_surrogate)
def test_a_webhook_property_name_with_a_lone_surrogate_is_invalid(client, tenant, text):
    event = webhook_event()
    event["properties"][text] = "x"
    body = json.dumps(event).encode()
    response = client.post("/api/conversions/webhook?buyer_id=buyer-1", data=body,
                           headers=hand_headers([tenant["webhook_secret"]], body))
    assert_refused(response, f"properties.{text}(key)")


@settings(max_examples=60)
@given(field=st.sampled_from(PIXEL_FIELDS), text=with_surrogate)
def test_a_json_pixel_with_a_lone_surrogate_in_any_parameter_is_invalid(client, tenant, field,
                                                                        text):
    params = {"buyer_id": "buyer-1", "event_name": "view", "event_value": "1.00",
              "currency": "USD", "event_id": "e-1", "event_ts": str(int(clock.now())),
              "source_type": "pixel", "cache_buster": "123"}
    response = client.post("/api/conversions/pixel", data=json.dumps({**params, field: text}),
                           headers={"Content-Type": "application/json",
                                    "Accept": "application/json"})
    assert_refused(response, field)


def test_the_goal_of_the_report_is_refused_and_kept_as_a_dead_letter(client, tenant):
    response = sign_and_post_goal(client, tenant, put(GOAL, "properties.plan", "\ud800"))
    assert_refused(response, "properties.plan")
    with connection():
        (kept,) = IngestionFailure.select()
    assert (kept.reason, kept.replayable) == ("invalid_event", False)
