"""Every request bounded by its input (issue 24): the JSON shape checked before any rule, a
refusal naming a few places in a few bytes, what it stores capped, and the inputs that used
to answer 500 (a postback's lone surrogate, deep JSON, integers of thousands of digits)."""
from __future__ import annotations

import json

import pytest

from conversions.core import budget, clock
from conversions.store.database import connection
from conversions.store.models import IngestionFailure, IngestionTestEvent
from conversions.tenants import postback_tokens
from tests.support import store_settings
from tests.webhook_senders import body_of, event, package_headers

PIXEL = "/api/conversions/pixel"
WEBHOOK = "/api/conversions/webhook?buyer_id=buyer-1"
JSON_ASKED = {"Accept": "application/json"}


@pytest.fixture
def token(tenant) -> str:
    with connection():
        return postback_tokens.issue(tenant["tenant_id"], "https://conv.example")["token"]


def attack(levels: int = 30, key_length: int = 1000, size: int = 64 * 1024 - 600,
           **top: str) -> dict:
    """The issue's pixel: long keys nested ``levels`` deep over e-mail-shaped strings."""
    body = {"buyer_id": "buyer-1", "event_name": "view", **top}
    node, emails = body, []
    for level in range(levels):
        node = node.setdefault(f"k{level:02d}".ljust(key_length, "x"), {})
    node["list"] = emails
    used = len(json.dumps(body))
    while used < size:
        emails.append(f"u{len(emails)}@ex.io")
        used += len(emails[-1]) + 4
    return body


def rows(model) -> list:
    with connection():
        return list(model.select())


def stored_bytes(row) -> int:
    return len(row.payload.encode()) + len((row.detail or "").encode())


def test_the_nested_pixel_attack_answers_a_few_short_places(client, tenant):
    response = client.post(PIXEL, json=attack(), headers=JSON_ASKED)
    assert (response.status_code, response.json["error"]) == (400, "pii_rejected")
    assert len(response.data) <= 4096
    places = response.json["fields"]
    assert len(places) == budget.MAX_FINDINGS
    assert all(len(path) <= budget.MAX_PATH for path in places)
    assert all(path.endswith(f".list[{index}]") for index, path in enumerate(places))


def test_the_nested_pixel_attack_as_a_test_stores_a_few_kilobytes(client, tenant):
    response = client.post(PIXEL, json=attack(test_event_code="T1"), headers=JSON_ASKED)
    assert response.json["error"] == "pii_rejected"
    (kept,) = rows(IngestionTestEvent)
    assert stored_bytes(kept) <= 4096
    assert json.loads(kept.payload)["truncated"]
    assert len(json.loads(kept.detail)) == budget.MAX_FINDINGS


@pytest.mark.parametrize(("levels", "message"), [(33, "nested deeper than 32 levels")])
def test_a_pixel_past_the_json_shape_is_refused_before_any_rule(client, levels, message):
    response = client.post(PIXEL, json=attack(levels=levels, key_length=3, size=2000),
                           headers=JSON_ASKED)
    assert (response.status_code, response.json["error"]) == (400, "json_too_complex")
    assert message in response.json["message"]


def test_more_keys_or_strings_than_the_shape_allows_are_refused(app, client):
    app.config.update(JSON_MAX_KEYS=100, JSON_MAX_STRINGS=100)
    many_keys = {"buyer_id": "buyer-1", "event_name": "view",
                 "extra": {str(n): n for n in range(100)}}
    many_strings = {"buyer_id": "buyer-1", "event_name": "view", "extra": ["s"] * 100}
    for body, message in ((many_keys, "more than 100 keys"),
                          (many_strings, "more than 100 strings")):
        response = client.post(PIXEL, json=body, headers=JSON_ASKED)
        assert response.json["error"] == "json_too_complex"
        assert message in response.json["message"]


def test_a_webhook_past_the_json_shape_is_refused_and_not_kept(client, tenant):
    deep: dict = {}
    node = deep
    for _ in range(40):
        node = node.setdefault("a", {})
    body = body_of(event(event_ts=int(clock.now()) - 60, properties=deep))
    response = client.post(WEBHOOK, data=body,
                           headers=package_headers(tenant["webhook_secret"], body))
    assert (response.status_code, response.json["error"]) == (400, "json_too_complex")
    assert rows(IngestionFailure) == []


def test_a_batch_of_many_bad_events_names_some_in_a_few_kilobytes(client, tenant):
    events = [event(event_ts=int(clock.now()) - 60, currency="XXX1") for _ in range(1000)]
    body = body_of({"events": events})
    response = client.post(WEBHOOK, data=body,
                           headers=package_headers(tenant["webhook_secret"], body))
    assert response.json["error"] == "invalid_event"
    answered = json.dumps(response.json["fields"], separators=(",", ":")).encode()
    assert len(answered) <= budget.MAX_FIELDS_BYTES
    assert len(response.json["fields"]) + response.json["fields_omitted"] == 1000
    (kept,) = rows(IngestionFailure)
    assert len((kept.detail or "").encode()) <= 2 * budget.MAX_FIELDS_BYTES


def test_the_dead_letter_listing_is_paged_by_bytes_too(app, client, tenant):
    store_settings(failures_page_max_bytes=3000)
    for n in range(3):  # each kept with about 1 KB of payload
        body = body_of(event(event_ts=int(clock.now()) - 60, currency="XXX1",
                             properties={"note": f"{n}" * 1000}))
        client.post(WEBHOOK, data=body, headers=package_headers(tenant["webhook_secret"], body))
    first = client.get("/api/conversions/ingestion/failures?limit=500").json
    assert len(first["failures"]) == 2
    rest = client.get(f"/api/conversions/ingestion/failures?cursor={first['next_cursor']}").json
    assert (len(rest["failures"]), rest["next_cursor"]) == (1, None)
    store_settings(failures_page_max_bytes=10)
    assert len(client.get("/api/conversions/ingestion/failures").json["failures"]) == 1


def test_a_postback_lone_surrogate_in_an_identity_field_is_refused_not_a_500(client, token):
    # event_value is read for revenue, and otherwise only goes into the dedup digest.
    body = {"event_name": "af_purchase", "event_value": "x\ud800", "event_revenue": "1",
            "event_revenue_currency": "USD"}
    response = client.post(f"/api/conversions/postback/appsflyer/{token}",
                           data=json.dumps(body), content_type="application/json")
    assert (response.status_code, response.json["error"]) == (400, "invalid_event")
    assert list(response.json["fields"]) == ["event_value"]


def test_a_deeply_nested_appsflyer_event_value_is_not_a_500(client, token):
    inner = '{"a":' * 5000 + "1" + "}" * 5000
    response = client.get(f"/api/conversions/postback/appsflyer/{token}",
                          query_string={"event_name": "af_purchase", "event_value": inner})
    assert response.status_code == 202, response.json


@pytest.mark.parametrize("depth", [980, 5000])
def test_a_deeply_nested_postback_body_is_a_400_not_a_500(client, token, depth):
    body = '{"a":' * depth + "1" + "}" * depth
    response = client.post(f"/api/conversions/postback/generic/{token}", data=body,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_json", "json_too_complex")


@pytest.mark.parametrize(("path", "name"), [
    ("/api/conversions/ingestion/failures", "limit"),
    ("/api/conversions/ingestion/failures", "cursor"),
    ("/api/conversions/health", "window_seconds"),
])
def test_an_integer_of_thousands_of_digits_is_a_400(client, path, name):
    response = client.get(path, query_string={name: "9" * 7800})
    assert (response.status_code, response.json["error"]) == (400, "invalid_parameter")
    assert client.get(path, query_string={name: "0" * 7800 + "60"}).status_code == 200
