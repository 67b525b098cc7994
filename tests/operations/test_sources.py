"""Dead letters and test events for the webhook and the pixel sources."""
from __future__ import annotations

import json

from conversions.rollups import tally
from tests.support import dead_letters, events, kept_test_events
from tests.webhook_senders import body_of, event, package_headers

WEBHOOK = "/api/conversions/webhook?buyer_id=buyer-1"
PIXEL = "/api/conversions/pixel"
FAILURES = "/api/conversions/ingestion/failures"


def hook(client, tenant, payload, msg_id=None, url=WEBHOOK):
    body = body_of(payload)
    return client.post(url, data=body,
                       headers=package_headers(tenant["webhook_secret"], body, msg_id=msg_id))


def pixel(client, **fields):
    query = {"buyer_id": "buyer-1", "source_type": "pixel", "event_name": "view", **fields}
    return client.get(PIXEL, query_string=query, headers={"Accept": "application/json"})


def test_refused_webhook_batch_is_kept_and_replayed_once_with_its_delivery(app, client, tenant):
    batch = {"events": [event(0), event(1, event_value="15000.00")]}
    refused = hook(client, tenant, batch, msg_id="msg_big")
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_event")
    (failure,) = dead_letters()
    assert (failure.source_type, failure.delivery_id) == ("webhook", "msg_big")
    assert json.loads(failure.payload) == batch
    app.config["MAX_EVENT_VALUE"] = 20000
    replayed = client.post(f"{FAILURES}/{failure.id}/replay").json
    assert replayed["outcome"] == "stored"
    assert client.post(f"{FAILURES}/{failure.id}/replay").json["outcome"] == "already_replayed"
    assert sorted(e.dedup_key for e in events()) == ["id:ord-0", "id:ord-1"]
    # The sender's retry of the same webhook-id is now a duplicate delivery.
    retried = hook(client, tenant, batch, msg_id="msg_big")
    assert (retried.status_code, retried.json["duplicate"]) == (200, True)
    assert len(events()) == 2


def test_replay_after_the_sender_redelivered_the_webhook_is_a_duplicate(app, client, tenant):
    payload = event(0, event_id=None, event_value="15000.00")  # no event id: only the
    hook(client, tenant, payload, msg_id="msg_1")                # webhook-id dedups it
    (failure,) = dead_letters()
    app.config["MAX_EVENT_VALUE"] = 20000
    assert hook(client, tenant, payload, msg_id="msg_1").status_code == 202
    replayed = client.post(f"{FAILURES}/{failure.id}/replay").json
    assert replayed["outcome"] == "duplicate"
    assert len(events()) == 1
    again = client.post(f"{FAILURES}/{failure.id}/replay").json
    assert again == {"id": str(failure.id), "outcome": "already_replayed", "event_id": None}


def test_webhook_test_delivery_flagged_in_its_signed_body(client, tenant):
    accepted = hook(client, tenant, {**event(0), "test_event_code": "HOOK1"})
    assert accepted.status_code == 202
    assert accepted.json["verdict"] == "accepted"
    refused = hook(client, tenant, {"events": [event(1, currency="XXX1")],
                                    "test_event_code": "HOOK1"})
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_event")
    assert events() == []
    assert dead_letters() == []
    assert tally.drain() == {(tenant["tenant_id"], "webhook", "test"): 2}
    shown = client.get("/api/conversions/test-events").json["test_events"]
    assert [(s["source"], s["verdict"], s["error"]) for s in shown] == [
        ("webhook", "rejected", "invalid_event"), ("webhook", "accepted", None)]


def test_pixel_refusals_are_only_counted_never_kept(client, tenant):
    response = pixel(client, event_value="20000", currency="USD")
    assert (response.status_code, response.json["error"]) == (400, "invalid_event")
    assert dead_letters() == []
    assert tally.drain() == {(tenant["tenant_id"], "pixel", "invalid_event"): 1}


def test_pixel_test_events_are_kept_apart(client, tenant):
    accepted = pixel(client, test_event_code="TAG1", event_value="5", currency="EUR")
    assert (accepted.status_code, accepted.json["verdict"]) == (202, "accepted")
    image = client.get(PIXEL, query_string={"buyer_id": "buyer-1", "event_name": "view"},
                       headers={"X-Conversions-Test": "TAG1"})
    assert (image.status_code, image.headers["X-Conversions-Status"]) == (200, "test")
    refused = pixel(client, test_event_code="TAG1", event_name="bad name!")
    assert refused.json["error"] == "invalid_event"
    unknown = pixel(client, test_event_code="TAG1", buyer_id="nobody")
    assert unknown.json["error"] == "unknown_buyer"
    assert events() == []
    assert tally.drain() == {(None, "pixel", "unknown_buyer"): 1,
                             (tenant["tenant_id"], "pixel", "test"): 3}
    assert [(t.verdict, t.error) for t in kept_test_events()] == [
        ("accepted", None), ("accepted", None), ("rejected", "invalid_event")]
