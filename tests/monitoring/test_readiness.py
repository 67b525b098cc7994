"""Readiness: connected and fresh sources, measured from receive time, in words."""
from __future__ import annotations

from conversions.store.database import connection
from conversions.tenants import settings
from tests.support import T0

DAY = 86400
URL = "/api/conversions/readiness?tenant_id="


def test_a_new_tenant_is_not_ready_and_says_why(client, tenant, moved):
    body = client.get(URL + tenant["tenant_id"]).json
    assert body == {
        "ready": False, "freshness_window_seconds": DAY, "state": "not_ready",
        "sources": {s: {"connected": False, "last_event_at": None, "fresh": False}
                    for s in ("pixel", "webhook", "goal", "postback")},
        "reasons": ["no source has delivered an event yet: send a pixel event, "
                    "a signed webhook, a signed goal or a postback"],
    }


def test_a_signed_goal_makes_the_tenant_ready(client, tenant, moved, send_goal):
    assert send_goal().status_code == 202
    body = client.get(URL + tenant["tenant_id"]).json
    assert (body["ready"], body["state"], body["reasons"]) == (True, "ready", [])
    assert body["sources"]["goal"] == {"connected": True, "last_event_at": "2026-11-24T10:00:00Z",
                                       "fresh": True}
    assert body["sources"]["pixel"]["connected"] is False


def test_a_stale_source_beside_a_fresh_one_is_degraded(client, tenant, moved, send_goal,
                                                       add_event):
    add_event("pixel", T0 - DAY - 1)
    send_goal()
    body = client.get(URL + tenant["tenant_id"]).json
    assert (body["ready"], body["state"]) == (True, "degraded")
    assert body["sources"]["pixel"] == {"connected": True, "fresh": False,
                                        "last_event_at": "2026-11-23T09:59:59Z"}
    assert body["reasons"] == ["pixel: no event received for over 86400 seconds (last at "
                               "2026-11-23T09:59:59Z, stale since 2026-11-24T09:59:59Z)"]


def test_each_source_reads_its_own_newest_receipt_past_newer_events_of_others(
        client, tenant, moved, add_event):
    add_event("pixel", T0 - 3600)
    add_event("pixel", T0 - 7200)
    for n in range(50):  # newer events of the sources on either side of "pixel"
        add_event("goal", T0 - 600 + n)
        add_event("postback", T0 - 600 + n)
    sources = client.get(URL + tenant["tenant_id"]).json["sources"]
    assert sources["pixel"]["last_event_at"] == "2026-11-24T09:00:00Z"
    assert sources["postback"]["last_event_at"] == "2026-11-24T09:50:49Z"
    assert sources["webhook"] == {"connected": False, "last_event_at": None, "fresh": False}


def test_a_future_event_time_never_makes_a_source_fresh(client, tenant, moved, add_event):
    add_event("pixel", received=T0 - 2 * DAY, occurred=T0 + 240)
    body = client.get(URL + tenant["tenant_id"]).json
    assert (body["ready"], body["state"]) == (False, "not_ready")
    assert body["sources"]["pixel"]["fresh"] is False
    assert body["reasons"][1:] == ["webhook: not connected (no event received yet)",
                                   "goal: not connected (no event received yet)",
                                   "postback: not connected (no event received yet)"]


def test_freshness_follows_the_tenant_window_per_source(client, tenant, moved, add_event):
    add_event("webhook", T0 - 7200)
    assert client.get(URL + tenant["tenant_id"]).json["state"] == "ready"
    with connection(), client.application.app_context():
        settings.put(tenant["tenant_id"], "freshness_window_seconds.webhook", "3600")
    body = client.get(URL + tenant["tenant_id"]).json
    assert (body["state"], body["freshness_window_seconds"]) == ("not_ready", DAY)
    moved.advance(-3601)
    assert client.get(URL + tenant["tenant_id"]).json["state"] == "ready"


def test_bad_or_missing_tenant_id_is_a_400_naming_it(client, tenant):
    for query, status, error in [("", 400, "invalid_parameter"), ("nope", 400, "invalid_parameter"),
                                 ("5b0f5d8e-6d8e-4a55-9a57-0c4c0f5f7c11", 404, "unknown_tenant")]:
        response = client.get(URL + query)
        assert response.status_code == status, query
        assert (response.json["error"], response.json["parameter"]) == (error, "tenant_id")


def test_reads_need_the_admin_token_when_one_is_set(client, tenant):
    remote = client.get(URL + tenant["tenant_id"], environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert (remote.status_code, remote.json["error"]) == (403, "forbidden")
    client.application.config["ADMIN_TOKEN"] = "t0ken"
    for path in ("readiness", "stats", "health", "metrics"):
        url = f"/api/conversions/{path}?tenant_id={tenant['tenant_id']}"
        assert client.get(url).status_code == 401, path
        ok = client.get(url, headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200, path


def test_an_unreachable_store_makes_readiness_unavailable(client, tenant):
    from conversions.store.database import connect, database

    database.initialize(connect("postgresql://nobody@127.0.0.1:1/conversions"))
    response = client.get(URL + tenant["tenant_id"])
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    assert response.json["state"] == "unavailable"
    assert response.json["ready"] is False
    assert response.json["reasons"] == ["storage is unavailable"]
    health = client.get("/api/conversions/health")
    assert (health.status_code, health.json["error"]) == (503, "store_unavailable")
