"""``POST /api/conversions/webhook`` through the app and its middleware, in process."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.core import clock
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.store.models import Event, WebhookDelivery
from conversions.tenants import accounts
from tests.webhook_senders import body_of, event, hand_headers, package_headers

URL = "/api/conversions/webhook?buyer_id=buyer-1"


def send(client, tenant, payload, url=URL, **sign):
    body = body_of(payload)
    return client.post(url, data=body, headers=package_headers(tenant["webhook_secret"], body,
                                                              **sign))


def stored() -> list[Event]:
    with connection():
        return list(Event.select().order_by(Event.id))


def test_single_event_signed_by_the_standardwebhooks_package_is_stored(client, tenant):
    ts = int(clock.now()) - 120
    payload = event(event_ts=ts, properties={"plan": "pro", "items": [1, 2]})
    response = send(client, tenant, payload, msg_id="msg_1")
    assert response.status_code == 202, response.json
    assert response.json == {"duplicate": False, "webhook_id": "msg_1", "accepted": 1,
                             "duplicates": 0, "event_ids": [response.json["event_ids"][0]]}
    (stored_event,) = stored()
    assert str(stored_event.id) == response.json["event_ids"][0]
    assert stored_event.tenant_id == tenant["tenant_id"]
    assert (stored_event.source_type, stored_event.signed) == ("webhook", True)
    assert stored_event.value == Decimal("19.99")
    assert stored_event.currency == "USD"
    assert stored_event.occurred_at_ms == ts * 1000
    assert json.loads(stored_event.properties) == {"plan": "pro", "items": [1, 2]}
    assert stored_event.dedup_key == "id:ord-0"


def test_event_signed_by_hand_with_hmac_is_stored(client, tenant):
    moment = datetime.fromtimestamp(int(clock.now()) - 86400, UTC)
    body = body_of(event(event_ts=moment.isoformat().replace("+00:00", "Z"), event_id=None))
    response = client.post(URL, data=body, headers=hand_headers([tenant["webhook_secret"]], body))
    assert response.status_code == 202, response.json
    (stored_event,) = stored()
    assert stored_event.dedup_key is None
    assert stored_event.occurred_at_ms == int(moment.timestamp()) * 1000


def test_tenant_may_be_named_by_tenant_id(client, tenant):
    url = f"/api/conversions/webhook?tenant_id={tenant['tenant_id']}"
    assert send(client, tenant, event(), url=url).status_code == 202


def test_tenant_id_is_a_uuid_in_any_case(client, tenant):
    url = f"/api/conversions/webhook?tenant_id={tenant['tenant_id'].upper()}"
    assert send(client, tenant, event(), url=url).status_code == 202


def test_batch_of_one(client, tenant):
    response = send(client, tenant, {"events": [event()]})
    assert response.status_code == 202
    assert (response.json["accepted"], len(response.json["event_ids"])) == (1, 1)


def test_batch_of_a_thousand_is_stored_in_order(client, tenant):
    events = [event(i, event_value=f"{i}.50") for i in range(1000)]
    response = send(client, tenant, {"events": events})
    assert response.status_code == 202, response.json
    assert (response.json["accepted"], response.json["duplicates"]) == (1000, 0)
    rows = {str(e.id): e for e in stored()}
    assert len(rows) == 1000
    for i, event_id in enumerate(response.json["event_ids"]):
        assert rows[event_id].dedup_key == f"id:ord-{i}"
        assert rows[event_id].value == Decimal(f"{i}.50")
    assert tally.drain()[(tenant["tenant_id"], "webhook", "accepted")] == 1000


def test_batch_without_event_ids_keeps_the_order_of_its_events(client, tenant):
    events = [event(i, event_id=None, event_value=str(i)) for i in range(120)]
    response = send(client, tenant, {"events": events})
    assert response.status_code == 202
    rows = {str(e.id): e for e in stored()}
    assert [rows[i].value for i in response.json["event_ids"]] == [Decimal(i) for i in range(120)]


def test_event_ids_repeated_in_a_batch_or_stored_before_are_duplicates(client, tenant):
    first = send(client, tenant, event(7))
    response = send(client, tenant, {"events": [event(1), event(7), event(1), event(2)]})
    assert response.status_code == 202
    ids = response.json["event_ids"]
    assert (response.json["accepted"], response.json["duplicates"]) == (2, 2)
    assert ids[1] == first.json["event_ids"][0]
    assert ids[0] == ids[2] != ids[3]
    assert len(stored()) == 3
    again = send(client, tenant, {"events": [event(1), event(2)]})
    assert again.status_code == 200
    assert (again.json["accepted"], again.json["duplicates"]) == (0, 2)


def test_more_than_a_thousand_events_are_refused(client, tenant):
    response = send(client, tenant, {"events": [event(i) for i in range(1001)]})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_event"
    assert "events" in response.json["fields"]
    assert stored() == []


def test_body_over_the_limit_is_413(client, tenant):
    payload = event(properties={"pad": "x" * (1024 * 1024)})
    response = send(client, tenant, payload)
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"


def test_invalid_batch_names_every_problem_and_stores_nothing(client, tenant):
    events = [event(i) for i in range(8)]
    events[3]["currency"] = "XYZ"
    events[5]["event_value"] = "1.234"
    events[6]["surprise"] = True
    del events[2]["event_name"]
    events[7] = "not an event"
    events[1]["event_ts"] = int(clock.now()) - 8 * 86400
    response = send(client, tenant, {"events": events})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_event"
    assert set(response.json["fields"]) == {
        "events[1].event_ts", "events[2].event_name", "events[3].currency",
        "events[5].event_value", "events[6].surprise", "events[7]"}
    assert stored() == []
    with connection():
        assert WebhookDelivery.select().count() == 0


@pytest.mark.parametrize(("payload", "field"), [
    (event(properties={"contact": "jane@example.com"}), "properties.contact"),
    ({"events": [event(0), event(1, event_id="call 555-123-4567")]}, "events[1].event_id"),
    ({"events": [event(0, properties={"+1 (555) 123-4567": 1})]},
     "events[0].properties.+1 (555) 123-4567(key)"),
], ids=["email-in-property", "phone-in-event-id", "phone-in-property-name"])
def test_personal_data_anywhere_is_refused(client, tenant, payload, field):
    response = send(client, tenant, payload)
    assert response.status_code == 400
    assert response.json["error"] == "pii_rejected"
    assert field in response.json["fields"]
    assert "jane" not in response.get_data(as_text=True)
    assert stored() == []


@pytest.mark.parametrize(("body", "error"), [
    (b"not json", "invalid_json"),
    (b"[1, 2]", "invalid_json"),
    (b'{"events": "many"}', "invalid_event"),
    (b'{"events": []}', "invalid_event"),
    (b'{"events": [], "extra": 1}', "invalid_event"),
])
def test_malformed_bodies_are_refused(client, tenant, body, error):
    response = send(client, tenant, body)
    assert response.status_code == 400
    assert response.json["error"] == error


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "future"])
def test_timestamp_outside_the_tolerance_is_refused(client, tenant, offset):
    response = send(client, tenant, event(), timestamp=int(clock.now()) + offset)
    assert response.status_code == 401
    assert response.json["error"] == "stale_timestamp"
    assert stored() == []


def test_timestamp_within_the_tolerance_is_accepted(client, tenant):
    assert send(client, tenant, event(), timestamp=int(clock.now()) - 290).status_code == 202


def test_replayed_webhook_id_is_a_duplicate_stored_once(client, tenant):
    payload = {"events": [event(0, event_id=None), event(1, event_id=None)]}
    first = send(client, tenant, payload, msg_id="msg_replay")
    again = send(client, tenant, payload, msg_id="msg_replay")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json == {"duplicate": True, "webhook_id": "msg_replay", "accepted": 0,
                          "duplicates": 2, "event_ids": []}
    assert len(stored()) == 2


def test_webhook_id_is_per_tenant(client, tenant):
    with connection():
        other = accounts.create("other.example.com", "buyer-2")
    assert send(client, tenant, event(), msg_id="msg_same").status_code == 202
    response = send(client, other, event(), msg_id="msg_same",
                    url="/api/conversions/webhook?buyer_id=buyer-2")
    assert response.status_code == 202
    assert response.json["duplicate"] is False


def test_webhook_id_seen_before_the_replay_window_is_new(client, tenant, frozen_clock):
    payload = event(event_id=None)
    assert send(client, tenant, payload, msg_id="msg_old").status_code == 202
    frozen_clock.advance(client.application.config["REPLAY_WINDOW_SECONDS"] + 1)
    response = send(client, tenant, event(event_id=None), msg_id="msg_old")
    assert response.status_code == 202
    assert len(stored()) == 2


@pytest.mark.parametrize(("url", "status", "error"), [
    ("/api/conversions/webhook", 400, "missing_tenant"),
    ("/api/conversions/webhook?buyer_id=nobody", 404, "unknown_tenant"),
    ("/api/conversions/webhook?tenant_id=00000000-0000-0000-0000-000000000000", 404,
     "unknown_tenant"),
    ("/api/conversions/webhook?buyer_id=b%00", 404, "unknown_tenant"),  # a 500 on PostgreSQL
    ("/api/conversions/webhook?tenant_id=%00", 404, "unknown_tenant"),
])
def test_tenant_must_be_named_and_known(client, tenant, url, status, error):
    response = send(client, tenant, event(), url=url)
    assert (response.status_code, response.json["error"]) == (status, error)


def test_wrong_secret_or_missing_headers_are_refused(client, tenant):
    with connection():
        other = accounts.create("other.example.com", "buyer-2")
    body = body_of(event())
    wrong = client.post(URL, data=body, headers=package_headers(other["webhook_secret"], body))
    assert (wrong.status_code, wrong.json["error"]) == (401, "invalid_signature")
    bare = client.post(URL, data=body, headers={"Content-Type": "application/json"})
    assert (bare.status_code, bare.json["error"]) == (401, "missing_signature")
    assert stored() == []


def test_rotation_keeps_both_keys_during_grace_then_only_the_new(client, tenant, frozen_clock):
    old = tenant["webhook_secret"]
    with connection():
        new = accounts.rotate(tenant["tenant_id"], "webhook", 3600)["webhook_secret"]
    body = body_of(event(event_id=None))
    answers = []
    for secrets in ([old], [new], ["whsec_" + "A" * 44, new]):
        response = client.post(URL, data=body, headers=hand_headers(secrets, body))
        answers.append(response.status_code)
        assert set(response.json) == {"duplicate", "webhook_id", "accepted", "duplicates",
                                      "event_ids"}  # never which key matched
    assert answers == [202, 202, 202]
    frozen_clock.advance(3601)
    body = body_of(event(event_id=None))
    with_old = client.post(URL, data=body, headers=hand_headers([old], body))
    assert (with_old.status_code, with_old.json["error"]) == (401, "invalid_signature")
    with_new = client.post(URL, data=body, headers=package_headers(new, body))
    assert with_new.status_code == 202


def test_overlong_webhook_id_is_refused(client, tenant):
    response = send(client, tenant, event(), msg_id="m" * 256)
    assert (response.status_code, response.json["error"]) == (400, "invalid_webhook_id")
    assert stored() == []


@pytest.mark.parametrize(("properties", "problem"), [
    ({"pad": "x" * 17000}, "must be at most"),
    ("not an object", "Not a valid mapping type"),
])
def test_properties_must_be_a_small_object(client, tenant, properties, problem):
    body = json.dumps(event(properties=properties)).encode()
    response = send(client, tenant, body)
    assert response.status_code == 400
    assert problem in response.json["fields"]["properties"][0]
