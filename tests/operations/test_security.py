"""Security status: secrets set, their age and live keys, limits; never a secret."""
from __future__ import annotations

import base64

from conversions.store.database import connection
from conversions.tenants import accounts, settings

STATUS = "/api/conversions/security/status"


def secret_forms(secret: str) -> list[str]:
    """Every way a secret could leak: as shown, its base64 body, its key bytes as hex."""
    if secret.startswith("whsec_"):
        body = secret.removeprefix("whsec_")
        return [secret, body, base64.b64decode(body).hex()]
    return [secret, base64.b64encode(bytes.fromhex(secret)).decode()]


def test_status_shows_secrets_set_and_live_keys_never_a_secret(app, client, tenant):
    with connection():
        rotated = accounts.rotate(tenant["tenant_id"], "webhook", grace_seconds=3600)
    with app.app_context():
        settings.put(tenant["tenant_id"], "rate_limit.goal", "60 per minute")
    response = client.get(STATUS, query_string={"tenant_id": tenant["tenant_id"]})
    (status,) = response.json["tenants"]
    pixel, webhook = status["secrets"]["pixel"], status["secrets"]["webhook"]
    assert (pixel["set"], pixel["live_keys"], pixel["grace_until_ms"]) == (True, 1, [])
    assert 0 <= pixel["age_seconds"] < 600
    assert webhook["live_keys"] == 2
    assert webhook["grace_until_ms"] == [rotated["previous_valid_until_ms"]]
    assert status["rate_limits"]["goal"] == "60 per minute"
    assert status["rate_limits"]["webhook"] == app.config["RATELIMIT_INGEST"]
    assert status["signature_failures"]["last_day"]["total"] == 0
    text = response.get_data(as_text=True)
    for secret in (tenant["pixel_secret"], tenant["webhook_secret"], rotated["webhook_secret"]):
        for form in secret_forms(secret):
            assert form not in text


def test_grace_keys_expire_from_the_status(client, tenant, frozen_clock):
    with connection():
        accounts.rotate(tenant["tenant_id"], "pixel", grace_seconds=60)
    frozen_clock.advance(120)
    (status,) = client.get(STATUS).json["tenants"]
    assert status["secrets"]["pixel"]["live_keys"] == 1


def test_unknown_tenant_is_not_found(client, tenant):
    unknown = "00000000-0000-4000-8000-000000000000"
    response = client.get(STATUS, query_string={"tenant_id": unknown})
    assert (response.status_code, response.json["error"]) == (404, "unknown_tenant")


def test_signature_failures_over_the_last_hour_and_day(client, tenant, send_goal, run_jobs):
    send_goal(signature="00" * 32)
    send_goal(signature="11" * 32)
    send_goal(url="/api/v1/track/pixel/goal?domain=shop.example.com", signature=" ")
    send_goal(value=20000)  # refused by a rule, not a signature failure
    run_jobs("flush")
    (status,) = client.get(STATUS).json["tenants"]
    for window in ("last_hour", "last_day"):
        assert status["signature_failures"][window] == {
            "total": 3, "invalid_signature": 2, "missing_signature": 1,
            "invalid_timestamp": 0, "stale_timestamp": 0}
