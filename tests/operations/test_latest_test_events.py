"""Test events: verified and validated like real ones, kept apart, never counted."""
from __future__ import annotations

import pytest

from conversions.rollups import tally
from tests.support import GOAL, dead_letters, events, kept_test_events, store_settings

VIEW = "/api/conversions/test-events"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        pytest.param(GOAL + "&test_event_code=TEST123", {}, id="query"),
        pytest.param(GOAL + "&%74est%5Fevent%5Fcode=TEST123", {}, id="query-percent-encoded"),
        pytest.param(GOAL, {"X-Conversions-Test": "TEST123"}, id="header"),
    ],
)
def test_accepted_test_event_is_kept_apart_and_counted_as_a_test(client, tenant, send_goal,
                                                                 url, headers):
    response = send_goal(url=url, headers=headers, value=10, currency="USD")
    assert response.status_code == 202
    assert response.json["verdict"] == "accepted"
    assert response.json["test_event_code"] == "TEST123"
    assert events() == []
    assert tally.drain() == {(tenant["tenant_id"], "goal", "test"): 1}
    view = client.get(VIEW, query_string={"tenant_id": tenant["tenant_id"]}).json
    (shown,) = view["test_events"]
    assert shown["id"] == response.json["test_event_id"]
    assert (shown["verdict"], shown["error"], shown["source"]) == ("accepted", None, "goal")
    assert shown["payload"]["properties"] == {"value": 10.0, "currency": "USD"}


def test_rejected_test_event_gets_the_real_answer_and_shows_its_code(client, tenant, send_goal):
    real = send_goal(value=20000)
    test = send_goal(value=20000, headers={"X-Conversions-Test": "T1"})
    assert (test.status_code, test.json) == (real.status_code, real.json)
    assert len(dead_letters()) == 1  # the real one only
    assert tally.drain() == {(tenant["tenant_id"], "goal", "invalid_event"): 1,
                             (tenant["tenant_id"], "goal", "test"): 1}
    (shown,) = client.get(VIEW).json["test_events"]
    assert (shown["verdict"], shown["error"]) == ("rejected", "invalid_event")
    assert "properties.value" in shown["detail"]


def test_test_event_with_pii_is_shown_masked(client, send_goal):
    assert send_goal(session="jo@example.com", headers={"X-Conversions-Test": "T1"}).status_code \
        == 400
    (shown,) = client.get(VIEW).json["test_events"]
    assert (shown["error"], shown["payload"]["session_id"]) == ("pii_rejected", "[email]")


def test_unverified_test_request_is_only_counted(client, tenant, send_goal):
    response = send_goal(signature="00" * 32, headers={"X-Conversions-Test": "T1"})
    assert response.status_code == 401
    assert kept_test_events() == []
    assert tally.drain() == {(tenant["tenant_id"], "goal", "invalid_signature"): 1}


def test_test_code_in_a_goal_body_is_refused_because_it_is_not_signed(send_goal):
    response = send_goal(extra={"test_event_code": "T1"})
    assert (response.status_code, response.json["error"]) == (400, "invalid_event")
    assert "test_event_code" in response.json["fields"]
    assert kept_test_events() == []
    assert events() == []


def test_malformed_test_code_is_refused(send_goal):
    response = send_goal(headers={"X-Conversions-Test": "no spaces please"})
    assert (response.status_code, response.json["error"]) == (400, "invalid_parameter")
    assert events() == []


def test_test_events_are_bounded_and_shown_newest_first(app, client, send_goal):
    store_settings(test_events_max_rows=3)
    for index in range(6):
        send_goal(headers={"X-Conversions-Test": f"T{index}"})
    shown = client.get(VIEW).json["test_events"]
    assert [s["test_event_code"] for s in shown] == ["T5", "T4", "T3"]
    only = client.get(VIEW, query_string={"test_event_code": "T4"}).json["test_events"]
    assert [s["test_event_code"] for s in only] == ["T4"]


def test_test_events_never_change_stats_health_readiness_or_attribution(client, tenant, send_goal,
                                                                        run_jobs, frozen_clock):
    from tests.webhook_senders import body_of, event, package_headers

    assert send_goal(value=10, currency="USD").status_code == 202  # one real event
    assert send_goal(value=20000).status_code == 400  # and one real refusal
    frozen_clock.advance(60)
    run_jobs()
    query = {"tenant_id": tenant["tenant_id"]}

    def figures():
        health = client.get("/api/conversions/health", query_string=query).json
        return (client.get("/api/conversions/stats", query_string=query).json,
                client.get("/api/conversions/readiness", query_string=query).json,
                health["ingestion"], health["errors"], [e.id for e in events()])

    before = figures()
    assert before[0]["series"]
    assert before[3] == {"invalid_event": 1}
    test = {"X-Conversions-Test": "T1"}
    assert send_goal(value=99, currency="USD", headers=test).status_code == 202
    assert send_goal(value=20000, headers=test).status_code == 400
    body = body_of({**event(0), "test_event_code": "T1"})
    assert client.post("/api/conversions/webhook?buyer_id=buyer-1", data=body, headers=(
        package_headers(tenant["webhook_secret"], body))).status_code == 202
    assert client.get("/api/conversions/pixel", query_string={
        "buyer_id": "buyer-1", "event_name": "view", "test_event_code": "T1"}).status_code \
        == 200
    run_jobs()
    assert figures() == before
    assert len(kept_test_events()) == 4


def test_throttled_test_events_are_neither_kept_nor_counted_as_tests(app, client, tenant):
    app.config["RATELIMIT_PER_ADDRESS"] = "2 per minute"
    query = {"buyer_id": "buyer-1", "event_name": "view", "test_event_code": "FLOOD"}
    answers = [client.get("/api/conversions/pixel", query_string=query).status_code
               for _ in range(5)]
    assert answers == [200, 200, 429, 429, 429]
    assert len(kept_test_events()) == 2
    assert tally.drain() == {(tenant["tenant_id"], "pixel", "test"): 2}
