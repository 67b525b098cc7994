"""``GET|POST /api/conversions/pixel`` through the app, in process."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from conversions.core import clock
from conversions.ingest.pixel import GIF
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.store.models import Event
from conversions.tenants import accounts

PIXEL = "/api/conversions/pixel"


def params(**fields) -> dict:
    base = {"buyer_id": "buyer-1", "source_type": "pixel", "event_name": "purchase",
            "event_value": "12.50", "currency": "usd"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def get(client, headers=None, **fields):
    return client.get(f"{PIXEL}?{urlencode(params(**fields))}", headers=headers or {})


def stored() -> list[Event]:
    with connection():
        return list(Event.select().order_by(Event.id))


def assert_never_cached(response):
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Pragma"] == "no-cache"
    assert response.headers["Expires"] == "0"


def test_gif_is_the_43_byte_transparent_pixel():
    assert len(GIF) == 43
    assert GIF.startswith(b"GIF89a\x01\x00\x01\x00")


def test_pixel_event_is_stored_and_answered_with_the_gif(client, tenant):
    ts = int(clock.now()) - 30
    response = get(client, event_ts=str(ts), event_id="ord-1")
    assert response.status_code == 200
    assert response.data == GIF
    assert response.mimetype == "image/gif"
    assert response.headers["X-Conversions-Status"] == "accepted"
    assert "X-Conversions-Error" not in response.headers
    assert_never_cached(response)
    (event,) = stored()
    assert event.tenant_id == tenant["tenant_id"]
    assert (event.source_type, event.signed, event.event_name) == ("pixel", False, "purchase")
    assert (event.value, event.currency) == (Decimal("12.50"), "USD")
    assert event.occurred_at_ms == ts * 1000
    assert event.dedup_key == "id:ord-1"
    assert tally.drain()[(tenant["tenant_id"], "pixel", "accepted")] == 1


def test_event_time_defaults_to_now_and_takes_iso_8601(client, tenant):
    before = clock.now_ms()
    assert get(client, event_value=None, currency=None).status_code == 200
    hour_ago = datetime.fromtimestamp(int(clock.now()) - 3600, timezone(timedelta(hours=1)))
    assert get(client, event_ts=hour_ago.isoformat()).status_code == 200
    first, second = stored()
    assert first.occurred_at_ms >= before
    assert first.value is None
    assert second.occurred_at_ms == int(hour_ago.timestamp()) * 1000


def test_same_event_id_is_stored_once(client, tenant):
    first = get(client, event_id="ord-9")
    again = get(client, event_id="ord-9", event_value="99")
    assert first.headers["X-Conversions-Status"] == "accepted"
    assert (again.status_code, again.headers["X-Conversions-Status"]) == (200, "duplicate")
    assert again.data == GIF
    assert len(stored()) == 1


def test_event_id_is_per_buyer(client, tenant):
    with connection():
        accounts.create("other.example.com", "buyer-2")
    get(client, event_id="ord-1")
    other = get(client, event_id="ord-1", buyer_id="buyer-2")
    assert other.headers["X-Conversions-Status"] == "accepted"
    assert len(stored()) == 2


def test_blank_and_unknown_parameters_are_ignored(client, tenant):
    response = get(client, event_id="", cb="1732451234", event_ts="")
    assert response.headers["X-Conversions-Status"] == "accepted"


@pytest.mark.parametrize(("fields", "error", "field"), [
    ({"buyer_id": None}, "invalid_event", "buyer_id"),
    ({"buyer_id": "nobody"}, "unknown_buyer", None),
    ({"event_name": None}, "invalid_event", "event_name"),
    ({"event_name": "add to cart"}, "invalid_event", "event_name"),
    ({"event_name": "x" * 65}, "invalid_event", "event_name"),
    ({"event_value": "-1"}, "invalid_event", "event_value"),
    ({"event_value": "1.234"}, "invalid_event", "event_value"),
    ({"event_value": "10000.01"}, "invalid_event", "event_value"),
    ({"event_value": "abc"}, "invalid_event", "event_value"),
    ({"event_value": "NaN"}, "invalid_event", "event_value"),
    ({"event_value": "1_000"}, "invalid_event", "event_value"),  # Decimal() takes these
    ({"event_value": "\u0661\u0662"}, "invalid_event", "event_value"),  # Arabic-Indic 12
    ({"currency": "XYZ"}, "invalid_event", "currency"),
    ({"currency": None}, "invalid_event", "currency"),
    ({"event_ts": "yesterday"}, "invalid_event", "event_ts"),
    ({"event_ts": "1999-01-01T00:00:00Z"}, "invalid_event", "event_ts"),
    ({"event_ts": str(4102444800)}, "invalid_event", "event_ts"),
    ({"event_id": "x" * 129}, "invalid_event", "event_id"),
    ({"source_type": "goal"}, "invalid_event", "source_type"),
    ({"event_id": "jane@example.com"}, "pii_rejected", "event_id"),
    ({"event_name": "call:555-123-4567"}, "pii_rejected", "event_name"),
    ({"note": "ssn 123-45-6789"}, "pii_rejected", "note"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_bad_parameter_gets_the_gif_with_400_and_the_error(client, tenant, fields, error, field):
    response = get(client, **fields)
    assert response.status_code == 400
    assert response.data == GIF
    assert response.headers["X-Conversions-Error"] == error
    assert response.headers["X-Conversions-Status"] == "rejected"
    assert_never_cached(response)
    as_json = get(client, headers={"Accept": "application/json"}, **fields)
    assert as_json.status_code == 400
    assert as_json.json["error"] == error
    assert as_json.json["message"]
    if field:
        assert field in as_json.json["fields"]
    assert "jane" not in as_json.get_data(as_text=True)
    assert stored() == []


def test_refusals_are_tallied_for_the_buyer(client, tenant):
    tally.drain()
    get(client, event_value="-1")
    get(client, buyer_id="nobody")
    counts = tally.drain()
    assert counts[(tenant["tenant_id"], "pixel", "invalid_event")] == 1
    assert counts[(None, "pixel", "unknown_buyer")] == 1


def test_json_client_gets_json_on_success(client, tenant):
    response = get(client, headers={"Accept": "application/json"}, event_id="ord-2")
    assert response.status_code == 202
    assert response.json == {"event_id": str(stored()[0].id), "duplicate": False}
    assert response.headers["X-Conversions-Status"] == "accepted"


def test_browser_accept_header_gets_the_image(client, tenant):
    accept = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    response = get(client, headers={"Accept": accept})
    assert response.data == GIF


@pytest.mark.parametrize("content_type", ["form", "application/json", "text/plain"])
def test_post_for_send_beacon_is_stored(client, tenant, content_type):
    fields = params(event_id="beacon-1", event_value=5)
    if content_type == "form":
        response = client.post(PIXEL, data={k: str(v) for k, v in fields.items()})
    else:
        response = client.post(PIXEL, data=json.dumps(fields), content_type=content_type)
    assert response.status_code == 200
    assert response.headers["X-Conversions-Status"] == "accepted"
    (event,) = stored()
    assert (event.value, event.dedup_key) == (Decimal(5), "id:beacon-1")


@pytest.mark.parametrize("body", [b"{nope", b"[1]", b"[" * 5000])
def test_post_of_bad_json_is_refused(client, tenant, body):
    response = client.post(PIXEL, data=body, content_type="application/json")
    assert (response.status_code, response.headers["X-Conversions-Error"]) == (400, "invalid_json")


@pytest.mark.parametrize("buyer", ["\ud800", "x" * 65, 42])
def test_unusable_buyer_id_in_json_is_refused_not_looked_up(client, tenant, buyer):
    body = json.dumps({"buyer_id": buyer, "event_name": "view"})
    response = client.post(PIXEL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.headers["X-Conversions-Error"] in ("invalid_event", "unknown_buyer")


def test_head_request_stores_nothing(client, tenant):
    response = client.head("/api/conversions/pixel?buyer_id=buyer-1&source_type=pixel"
                           "&event_name=signup")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.headers["X-Conversions-Status"] == "rejected"
    with connection():
        assert Event.select().count() == 0


@pytest.mark.parametrize(("accept", "mimetype"), [("image/*", "image/gif"),
                                                  ("application/json", "application/json")])
def test_oversized_beacon_is_refused_in_the_form_the_client_asked_for(client, tenant, accept,
                                                                      mimetype):
    body = "buyer_id=buyer-1&event_name=x&cb=" + "a" * 70000
    response = client.post("/api/conversions/pixel", data=body, headers={"Accept": accept},
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.mimetype == mimetype
    assert response.headers["X-Conversions-Status"] == "rejected"
    with connection():
        assert Event.select().count() == 0
