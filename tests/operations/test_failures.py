"""Dead letters: verified events refused by a rule or a store fault, listed, replayed, discarded."""
from __future__ import annotations

import json

import pytest
from peewee import PostgresqlDatabase

from conversions.core import clock
from conversions.rollups import tally
from conversions.store.database import connection, database
from tests.support import dead_letters, events, store_settings

FAILURES = "/api/conversions/ingestion/failures"


def test_rejected_signed_goal_is_kept_with_pii_masked(client, tenant, send_goal):
    response = send_goal(session="jane.doe@example.com", plan="call 555-123-4567")
    assert (response.status_code, response.json["error"]) == (400, "pii_rejected")
    listed = client.get(FAILURES, query_string={"tenant_id": tenant["tenant_id"]})
    assert listed.status_code == 200
    (failure,) = listed.json["failures"]
    assert failure["reason"] == "pii_rejected"
    assert (failure["source"], failure["status"]) == ("goal", 400)
    assert failure["payload"]["session_id"] == "[email]"
    assert failure["payload"]["properties"]["plan"] == "call [phone]"
    assert failure["detail"] == {"session_id": "email", "properties.plan": "phone"}
    assert failure["replayable"] is False
    text = listed.get_data(as_text=True)
    assert "jane" not in text
    assert "555-123" not in text
    assert "X-LP-Goal-Signature" not in text


def test_a_goal_nested_past_the_json_shape_is_a_400_before_any_rule_never_kept(client, send_goal):
    deep = json.loads('{"a":' * 600 + "1" + "}" * 600)
    response = send_goal(extra={"deep": deep})
    assert (response.status_code, response.json["error"]) == (400, "json_too_complex")
    assert "nested deeper than 32 levels" in response.json["message"]
    assert dead_letters() == []


def test_unauthenticated_junk_is_counted_never_kept(client, tenant, send_goal):
    assert send_goal(signature="ab" * 32, value=20000).status_code == 401
    unknown = "/api/v1/track/pixel/goal?domain=nobody.example"
    assert send_goal(url=unknown, value=20000).status_code == 404
    assert dead_letters() == []
    assert tally.drain() == {(tenant["tenant_id"], "goal", "invalid_signature"): 1,
                             (None, "goal", "unknown_domain"): 1}


def test_replay_after_the_rule_is_relaxed_stores_the_event_exactly_once(app, client, send_goal):
    assert send_goal(session="sess_1", value=15000, currency="USD").json["error"] == "invalid_event"
    (failure,) = dead_letters()
    replay = f"{FAILURES}/{failure.id}/replay"

    still = client.post(replay)
    assert still.json["outcome"] == "still_rejected"
    assert "properties.value" in still.json["fields"]
    assert events() == []

    app.config["MAX_EVENT_VALUE"] = 20000
    first = client.post(replay)
    assert first.status_code == 200
    assert first.json["outcome"] == "stored"
    second = client.post(replay)
    assert second.json == {**first.json, "outcome": "already_replayed"}
    (event,) = events()
    assert str(event.id) == first.json["event_id"]
    assert (event.value, event.currency, event.received_at_ms) == (15000, "USD",
                                                                  failure.received_at_ms)
    # The sender's own retry is the same event: a duplicate, still stored once.
    again = send_goal(session="sess_1", value=15000, currency="USD")
    assert (again.status_code, again.json["event_id"]) == (200, first.json["event_id"])
    assert len(events()) == 1


def test_bulk_replay_from_the_command_line(app, runner, send_goal):
    for plan in ("a", "b"):
        send_goal(value=12000, plan=plan)
    send_goal(session="x@example.com")  # another reason: left alone
    app.config["MAX_EVENT_VALUE"] = 20000
    result = runner.invoke(args=["failures", "replay", "--reason", "invalid_event"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outcomes"] == {"stored": 2}
    again = runner.invoke(args=["failures", "replay", "--reason", "invalid_event"])
    assert json.loads(again.output)["outcomes"] == {}
    assert len(events()) == 2
    assert [f.reason for f in dead_letters() if f.replayed_at_ms is None] == ["pii_rejected"]


def test_masked_dead_letter_cannot_be_replayed(client, send_goal):
    send_goal(session="x@example.com")
    (failure,) = dead_letters()
    response = client.post(f"{FAILURES}/{failure.id}/replay")
    assert (response.status_code, response.json["error"]) == (409, "not_replayable")
    assert events() == []


def test_discard_removes_the_dead_letter(client, send_goal):
    send_goal(value=20000)
    (failure,) = dead_letters()
    response = client.post(f"{FAILURES}/{failure.id}/discard")
    assert response.json == {"id": str(failure.id), "discarded": True}
    assert dead_letters() == []
    assert client.post(f"{FAILURES}/{failure.id}/discard").status_code == 404
    assert client.post(f"{FAILURES}/{failure.id}/replay").json["error"] == "not_found"


@pytest.mark.parametrize("action", ["replay", "discard"])
def test_an_id_beyond_any_database_integer_is_not_found(client, action):
    response = client.post(f"{FAILURES}/{10**23}/{action}")
    assert (response.status_code, response.json["error"]) == (404, "not_found")


def test_retention_bound_holds_under_a_flood_of_bad_signed_events(app, client, send_goal):
    store_settings(failures_max_rows=5)
    for index in range(40):
        assert send_goal(value=20000, plan=f"p{index}").status_code == 400
    kept = dead_letters()
    assert len(kept) == 5
    assert [json.loads(f.payload)["properties"]["plan"] for f in kept] == [
        f"p{index}" for index in range(35, 40)]


def test_dead_letters_older_than_the_retention_are_dropped(app, client, send_goal, frozen_clock):
    send_goal(value=20000, plan="old")
    frozen_clock.advance(8 * 86400)  # past FAILURES_MAX_AGE_DAYS (7)
    assert client.get(FAILURES).json["failures"] == []
    send_goal(value=20000, plan="new")
    assert [json.loads(f.payload)["properties"]["plan"] for f in dead_letters()] == ["new"]


def test_listing_filters_and_pages(client, tenant, send_goal):
    for index in range(5):
        send_goal(value=20000, plan=f"p{index}")
    send_goal(session="x@example.com")
    page = client.get(FAILURES, query_string={"reason": "invalid_event", "limit": 2}).json
    assert [f["payload"]["properties"]["plan"] for f in page["failures"]] == ["p4", "p3"]
    rest = client.get(FAILURES, query_string={"reason": "invalid_event", "limit": 10,
                                              "cursor": page["next_cursor"]}).json
    assert [f["payload"]["properties"]["plan"] for f in rest["failures"]] == ["p2", "p1", "p0"]
    assert rest["next_cursor"] is None
    future = client.get(FAILURES, query_string={"from": str(int(clock.now()) + 60)}).json
    assert future["failures"] == []
    other = client.get(FAILURES, query_string={"tenant_id": "00000000-0000-4000-8000-000000000000"})
    assert (other.status_code, other.json["error"]) == (404, "unknown_tenant")
    bad = client.get(FAILURES, query_string={"limit": "many"})
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_parameter")


def _take_offline(table: str) -> tuple[str, str]:
    """SQL that makes inserts into ``table`` fail as a lost store would, and the SQL undoing it."""
    if isinstance(database.obj, PostgresqlDatabase):
        return (f"CREATE OR REPLACE FUNCTION fault() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION 'store lost' USING ERRCODE = '08006'; END $$ LANGUAGE plpgsql;"
                f"CREATE TRIGGER fault BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION "
                f"fault()", f"DROP TRIGGER fault ON {table}")
    return f"ALTER TABLE {table} RENAME TO {table}_offline", \
        f"ALTER TABLE {table}_offline RENAME TO {table}"


@pytest.fixture
def offline():
    """Run a block with inserts into a table failing, then bring it back."""
    from contextlib import contextmanager

    @contextmanager
    def offline(table: str):
        down, up = _take_offline(table)
        with connection():
            database.execute_sql(down)
        try:
            yield
        finally:
            with connection():
                database.execute_sql(up)

    return offline


def test_event_not_stored_by_a_store_fault_is_kept_and_replayable(client, send_goal, offline):
    with offline("event"):
        response = send_goal(value=10, currency="USD")
    assert (response.status_code, response.json["error"]) == (503, "store_unavailable")
    (failure,) = dead_letters()
    assert (failure.reason, failure.replayable) == ("store_unavailable", True)
    assert client.post(f"{FAILURES}/{failure.id}/replay").json["outcome"] == "stored"
    assert len(events()) == 1


def test_a_dead_letter_store_fault_never_turns_a_refusal_into_a_500(client, send_goal, offline):
    with offline("ingestion_failure"):
        response = send_goal(value=20000)
    assert (response.status_code, response.json["error"]) == (400, "invalid_event")
    assert dead_letters() == []


def test_admin_posts_refuse_cross_site_requests(client, send_goal):
    send_goal(value=20000)
    (failure,) = dead_letters()
    url = f"{FAILURES}/{failure.id}/discard"
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = client.post(url, headers=headers)
        assert (response.status_code, response.json["error"]) == (403, "forbidden")
    assert len(dead_letters()) == 1
    same = client.post(url, headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"})
    assert same.status_code == 200


@pytest.mark.parametrize(("path", "query"), [
    (FAILURES, {"reason": "invalid\x00event"}),
    ("/api/conversions/test-events", {"test_event_code": "SETUP\x00"}),
    ("/api/conversions/ingestion/error-taxonomy", {"window_seconds": "\u00b2"}),
])
def test_control_characters_and_odd_digits_in_parameters_are_a_400(client, path, query):
    response = client.get(path, query_string=query)
    assert response.status_code == 400
    assert response.json["parameter"] == next(iter(query))


def test_admin_endpoints_need_the_token_when_one_is_configured(app, client):
    app.config["ADMIN_TOKEN"] = "t0ken"
    assert client.get(FAILURES).status_code == 401
    assert client.get(FAILURES, headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_replay_of_an_event_its_sender_has_sent_again_is_a_duplicate(app, client, send_goal):
    send_goal(session="sess_1", value=15000)
    (failure,) = dead_letters()
    app.config["MAX_EVENT_VALUE"] = 20000
    resent = send_goal(session="sess_1", value=15000)
    assert resent.status_code == 202
    replayed = client.post(f"{FAILURES}/{failure.id}/replay").json
    assert replayed == {"id": str(failure.id), "outcome": "duplicate",
                        "event_id": resent.json["event_id"]}
    assert len(events()) == 1


def test_the_prune_job_drops_dead_letters_past_their_retention(app, send_goal, run_jobs,
                                                               frozen_clock):
    send_goal(value=20000)
    frozen_clock.advance(8 * 86400)
    run_jobs("prune")
    assert dead_letters() == []


def test_a_replayed_event_counts_once_in_the_rollups_the_cursor_had_passed(
        app, client, tenant, send_goal, run_jobs, frozen_clock):
    assert send_goal(value=15000, currency="USD", first_touch_bucket="ai_search").json[
        "error"] == "invalid_event"
    (failure,) = dead_letters()
    frozen_clock.advance(3600)
    run_jobs("aggregate")  # the cursor passes the dead letter's receive time
    app.config["MAX_EVENT_VALUE"] = 20000
    assert client.post(f"{FAILURES}/{failure.id}/replay").json["outcome"] == "stored"
    run_jobs("aggregate")
    run_jobs("aggregate")
    query = {"tenant_id": tenant["tenant_id"]}
    attributed = client.get("/api/conversions/attribution", query_string=query).json
    stats = client.get("/api/conversions/stats", query_string=query).json
    assert attributed["buckets"]["ai_search"]["revenue"] == {"USD": "15000.00"}
    assert attributed["events"] == 1
    assert [row["events"] for row in stats["series"]] == [1]
