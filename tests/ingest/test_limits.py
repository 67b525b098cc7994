"""Rate limits: per tenant, per client address, trusted proxies, failed signatures."""
from __future__ import annotations

import pytest

from app import create_app
from conversions.ingest.pixel import GIF
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.tenants import accounts, settings
from tests.support import empty_database
from tests.webhook_senders import body_of, event, hand_headers, package_headers

WEBHOOK = "/api/conversions/webhook?buyer_id=buyer-1"
PIXEL = "/api/conversions/pixel?buyer_id=buyer-1&event_name=view"


def webhook(client, tenant, url=WEBHOOK, secret=None, **headers):
    body = body_of(event(event_id=None))
    signed = package_headers(secret or tenant["webhook_secret"], body)
    return client.post(url, data=body, headers={**signed, **headers})


def assert_rate_limited(response):
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json["error"] == "rate_limited"
    assert response.json["message"]


def test_tenant_limit_from_settings_plus_one_is_429(client, tenant):
    with connection():
        other = accounts.create("other.example.com", "buyer-2")
    settings.put(tenant["tenant_id"], "rate_limit.webhook", "3 per minute")
    assert [webhook(client, tenant).status_code for _ in range(3)] == [202] * 3
    tally.drain()
    assert_rate_limited(webhook(client, tenant))
    assert tally.drain()[(tenant["tenant_id"], "webhook", "rate_limited")] == 1
    other_url = "/api/conversions/webhook?buyer_id=buyer-2"
    assert webhook(client, other, url=other_url).status_code == 202


def test_pixel_over_its_limit_gets_the_gif_with_429(client, tenant):
    settings.put(tenant["tenant_id"], "rate_limit.pixel", "2 per minute")
    assert [client.get(PIXEL).status_code for _ in range(2)] == [200, 200]
    response = client.get(PIXEL)
    assert (response.status_code, response.data) == (429, GIF)
    assert response.headers["X-Conversions-Error"] == "rate_limited"
    assert response.headers["X-Conversions-Status"] == "rejected"
    assert "no-store" in response.headers["Cache-Control"]
    assert int(response.headers["Retry-After"]) >= 1
    assert_rate_limited(client.get(PIXEL, headers={"Accept": "application/json"}))


def test_goal_endpoint_is_limited_per_tenant(tenant, send_goal):
    settings.put(tenant["tenant_id"], "rate_limit.goal", "1 per minute")
    assert [send_goal().status_code for _ in range(2)] == [202, 429]


def test_address_limit_ignores_a_forged_forwarded_for(client, tenant):
    client.application.config["RATELIMIT_PER_ADDRESS"] = "2 per minute"
    assert [client.get(PIXEL).status_code for _ in range(2)] == [200, 200]
    forged = client.get(PIXEL, headers={"X-Forwarded-For": "198.51.100.7",
                                        "Accept": "application/json"})
    assert_rate_limited(forged)


def test_one_flooding_address_cannot_spend_the_tenants_budget(client, tenant):
    client.application.config["RATELIMIT_PER_ADDRESS"] = "4 per minute"
    settings.put(tenant["tenant_id"], "rate_limit.pixel", "10 per minute")

    def pixels(address, count):
        return [client.get(PIXEL, environ_base={"REMOTE_ADDR": address}).status_code
                for _ in range(count)]

    assert pixels("203.0.113.1", 12) == [200] * 4 + [429] * 8
    # The 8 refused by their address spent nothing: two other visitors still fit.
    assert pixels("203.0.113.2", 3) == [200] * 3
    assert pixels("203.0.113.3", 3) == [200] * 3


@pytest.fixture
def proxied_app(database_url):
    """The app behind one trusted proxy, with a small per-address limit."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": "text",
                      "KEY_CACHE_SECONDS": 0, "PROXY_FIX_HOPS": 1,
                      "RATELIMIT_PER_ADDRESS": "2 per minute"})
    with connection():
        empty_database()
        accounts.create("shop.example.com", "buyer-1")
    return app


def test_trusted_proxy_hop_names_the_client_address(proxied_app):
    client = proxied_app.test_client()

    def from_address(address):
        return client.get(PIXEL, headers={"X-Forwarded-For": address}).status_code

    assert [from_address("203.0.113.1") for _ in range(3)] == [200, 200, 429]
    assert from_address("203.0.113.2") == 200
    # Only the last hop is trusted: an address the client prepends changes nothing.
    assert from_address("10.9.9.9, 203.0.113.1") == 429


def test_failed_signatures_are_limited_before_the_mac_is_checked(client, tenant):
    client.application.config["SIGNATURE_FAILURE_LIMIT"] = "3 per minute"
    with connection():
        wrong = accounts.create("other.example.com", "buyer-2")["webhook_secret"]
    body = body_of(event())
    for _ in range(3):
        bad = client.post(WEBHOOK, data=body, headers=hand_headers([wrong], body))
        assert (bad.status_code, bad.json["error"]) == (401, "invalid_signature")
    # Even the right secret is refused now: nothing is computed until the window passes.
    assert_rate_limited(webhook(client, tenant))
    other_tenant = webhook(client, None, url="/api/conversions/webhook?buyer_id=buyer-2",
                           secret=wrong)
    assert other_tenant.status_code == 202


def test_successful_signatures_do_not_count_as_failures(client, tenant):
    client.application.config["SIGNATURE_FAILURE_LIMIT"] = "2 per minute"
    assert [webhook(client, tenant).status_code for _ in range(4)] == [202] * 4


def test_unreachable_limit_store_neither_refuses_nor_loses_events(database_url, caplog,
                                                                   monkeypatch):
    """With Redis down, limits fail open (logged once), never a 500 and never a lost event."""
    from conversions.store.models import Event
    from conversions.web import rate_limits
    from tests.support import free_port

    monkeypatch.setattr(rate_limits, "_warned_at", 0.0)

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": "text",
                      "KEY_CACHE_SECONDS": 0,
                      "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}"})
    with connection():
        empty_database()
        tenant = accounts.create("shop.example.com", "buyer-1")
    client = app.test_client()
    assert client.get(PIXEL, headers={"Accept": "application/json"}).status_code == 202
    assert webhook(client, tenant).status_code == 202
    wrong = webhook(client, tenant, secret="whsec_" + "QUFB" * 8)
    assert (wrong.status_code, wrong.json["error"]) == (401, "invalid_signature")
    with connection():
        assert Event.select().count() == 2
    warnings = [r for r in caplog.records if "rate-limit store unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_a_hanging_limit_store_does_not_hang_ingestion(database_url):
    """Redis that accepts connections but never answers: the request fails open, it is stored."""
    import socket
    import threading

    from conversions.store.models import Event

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing is ever read or written
    try:
        app = create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": "text",
                          "KEY_CACHE_SECONDS": 0,
                          "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{silent.getsockname()[1]}",
                          "RATELIMIT_REDIS_TIMEOUT_SECONDS": 0.2})
        with connection():
            empty_database()
            accounts.create("shop.example.com", "buyer-1")
        answers = []
        sender = threading.Thread(target=lambda: answers.append(
            app.test_client().get(PIXEL, headers={"Accept": "application/json"}).status_code))
        sender.start()
        sender.join(30)  # without a socket timeout it would wait for ever
        assert answers == [202]
        with connection():
            assert Event.select().count() == 1
    finally:
        silent.close()
