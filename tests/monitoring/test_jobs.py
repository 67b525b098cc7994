"""The jobs: aggregation is idempotent, each job runs once per interval under its lock,
prune forgets what only the replay window needs, flush saves the tallies."""
from __future__ import annotations

import json
import threading

from conversions.rollups import aggregation, attribution, figures, tally
from conversions.store import leases, rollups, runs
from conversions.store.database import connection, database
from conversions.store.models import Event, HourlyAggregate, JobRun, OutcomeCount, WebhookDelivery
from tests.support import T0

HOUR = 3600


def aggregate_rows() -> list[tuple]:
    with connection():
        return sorted(HourlyAggregate.select(
            HourlyAggregate.tenant, HourlyAggregate.source_type, HourlyAggregate.event_name,
            HourlyAggregate.hour_start_ms, HourlyAggregate.currency, HourlyAggregate.events,
            HourlyAggregate.value_hundredths).tuples())


def test_aggregation_rerun_gives_the_same_rows(moved, add_event, run_job, tenant):
    add_event("pixel", T0 + 10, value_hundredths=1250, currency="USD")
    add_event("pixel", T0 + 20, value_hundredths=50, currency="USD")
    add_event("pixel", T0 + 30, occurred=T0 - 2 * HOUR, event_name="signup")
    add_event("webhook", T0 + 40, value_hundredths=700, currency="EUR")
    moved.advance(HOUR)
    first = run_job("aggregate")
    assert first.error is None
    assert first.rows == 3
    rows = aggregate_rows()
    t, h = tenant["tenant_id"], int(T0 * 1000)
    assert rows == [
        (t, "pixel", "purchase", h, "USD", 2, 1300),
        (t, "pixel", "signup", h - 2 * HOUR * 1000, "", 1, 0),
        (t, "webhook", "purchase", h, "EUR", 1, 700),
    ]
    assert run_job("aggregate").rows == 0  # nothing new since the cursor
    with connection():
        assert aggregation.aggregate(int(moved.now * 1000), start_ms=0) == 3
    assert aggregate_rows() == rows
    with connection():
        HourlyAggregate.delete().execute()
        aggregation.aggregate(int(moved.now * 1000), start_ms=0)
    assert aggregate_rows() == rows


def test_an_event_arriving_late_for_an_aggregated_hour_recomputes_that_hour(
        moved, add_event, run_job, tenant):
    add_event("pixel", T0, value_hundredths=100, currency="USD")
    moved.advance(60)
    run_job("aggregate")
    add_event("pixel", T0 + 120, occurred=T0 + 1, value_hundredths=200, currency="USD")
    moved.advance(120)
    assert run_job("aggregate").rows == 1
    assert aggregate_rows() == [(tenant["tenant_id"], "pixel", "purchase", int(T0 * 1000), "USD",
                                 2, 300)]


def test_a_run_overtaken_by_another_writes_nothing(app, moved, add_event, tenant,
                                                  monkeypatch):
    add_event("pixel", T0, value_hundredths=100, currency="USD")
    add_event("goal", T0 + 1, value_hundredths=250, currency="USD")
    moved.advance(60)
    read_batch = rollups.received_hour_groups
    overtaken = []

    def another_run_meanwhile(start_ms: int, end_ms: int) -> list:
        groups = read_batch(start_ms, end_ms)
        if not overtaken:  # as a second process would, between this run's read and write
            overtaken.append(None)
            overtaken[0] = aggregation.aggregate(end_ms)
        return groups

    monkeypatch.setattr(rollups, "received_hour_groups", another_run_meanwhile)
    with app.app_context(), connection():
        assert aggregation.aggregate(int(moved.now * 1000)) == 0
        report = attribution.report(tenant["tenant_id"], int(T0 * 1000), int(T0 * 1000) + 1)
    assert overtaken == [4]  # the other run wrote the hour, its day's goals and its hour's
    assert aggregate_rows() == [(tenant["tenant_id"], "goal", "purchase", int(T0 * 1000), "USD",
                                 1, 250),
                                (tenant["tenant_id"], "pixel", "purchase", int(T0 * 1000), "USD",
                                 1, 100)]
    assert report["events"] == 1


def test_an_approval_between_a_batch_read_and_its_write_has_the_batch_read_again(
        app, moved, add_event, tenant, monkeypatch):
    approved = add_event("postback", T0, value_hundredths=100, currency="USD")
    moved.advance(60)
    read_batch = rollups.received_hour_groups
    reads = []

    def approval_meanwhile(start_ms: int, end_ms: int) -> list:
        groups = read_batch(start_ms, end_ms)
        if not reads:  # as a postback approved by another process would be, received now
            with database.atomic():
                Event.update(value_hundredths=900, received_at_ms=end_ms + 1).where(
                    Event.id == approved).execute()
                aggregation.refresh_event(tenant["tenant_id"], int(T0 * 1000), "postback",
                                          False)
        reads.append(start_ms)
        return groups

    monkeypatch.setattr(rollups, "received_hour_groups", approval_meanwhile)
    with app.app_context(), connection():
        aggregation.aggregate(int(moved.now * 1000))
        hour = figures.by_period(tenant["tenant_id"], int(T0 * 1000), int(T0 * 1000) + 1)
    assert len(reads) == 2  # read again, without the approved event (now in the tail)
    assert aggregate_rows() == []
    assert hour == {(int(T0 * 1000), "postback", "purchase", "USD"): [1, 900, 0]}


def test_a_job_runs_once_per_interval_and_each_run_is_recorded(moved, app):
    done = []

    def work() -> int:
        done.append(1)
        return 7

    with app.app_context():
        first = runs.once("demo", work, interval_s=60, lease_s=600)
        assert runs.once("demo", work, interval_s=60, lease_s=600) is None
        moved.advance(60)
        second = runs.once("demo", work, interval_s=60, lease_s=600)
    assert len(done) == 2
    assert (first.rows, first.error, first.started_at_ms) == (7, None, int(T0 * 1000))
    assert second.started_at_ms == int((T0 + 60) * 1000)
    with connection():
        assert JobRun.select().where(JobRun.job == "demo").count() == 2


def test_a_failing_job_is_recorded_with_its_error(moved, app):
    def work() -> int:
        raise RuntimeError("boom")

    with app.app_context():
        run = runs.once("demo", work, interval_s=60, lease_s=600)
    assert run.error == "RuntimeError: boom"
    assert run.finished_at_ms is not None


def test_a_job_is_skipped_while_another_connection_holds_its_lock(moved, app):
    held, release, outcome = threading.Event(), threading.Event(), {}

    def holder() -> None:
        with connection(), leases.held("demo", 600_000) as taken:
            outcome["holder"] = taken
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    with app.app_context():
        outcome["other"] = runs.once("demo", lambda: 1, interval_s=60, lease_s=600)
    release.set()
    thread.join()
    assert outcome == {"holder": True, "other": None}
    with app.app_context():
        assert runs.once("demo", lambda: 1, interval_s=60, lease_s=600).rows == 1


def test_prune_forgets_webhook_ids_past_the_replay_window_but_never_a_goal_digest(
        moved, add_event, run_job, tenant, app):
    window = app.config["REPLAY_WINDOW_SECONDS"]
    old, recent = add_event("goal", T0 - window - 5), add_event("goal", T0 - 5)
    with connection():
        Event.update(dedup_key="sig:" + "a" * 64).where(Event.id == old).execute()
        Event.update(dedup_key="sig:" + "b" * 64).where(Event.id == recent).execute()
        for message, at in (("msg_old", T0 - window - 1), ("msg_new", T0 - 1)):
            WebhookDelivery.create(tenant=tenant["tenant_id"], message_id=message,
                                   received_at_ms=int(at * 1000), event_count=1)
    assert run_job("prune").rows == 1
    with connection():
        keys = {e.id: e.dedup_key for e in Event.select()}
        assert keys == {old: "sig:" + "a" * 64, recent: "sig:" + "b" * 64}
        assert [w.message_id for w in WebhookDelivery.select()] == ["msg_new"]


def test_a_captured_goal_sent_again_after_the_window_and_the_prune_is_a_duplicate(
        moved, send_goal, run_job, app):
    sent = send_goal(value=49.0, currency="USD", session="captured")
    assert sent.status_code == 202
    assert send_goal(value=49.0, currency="USD", session="captured").status_code == 200
    moved.advance(8 * 86400)
    run_job("prune")
    again = send_goal(value=49.0, currency="USD", session="captured")
    assert (again.status_code, again.json) == (200, {"event_id": sent.json["event_id"],
                                                     "duplicate": True})
    with connection():
        assert [e.value_hundredths for e in Event.select()] == [4900]


def test_flush_adds_tallies_to_the_outcome_counts(moved, run_job, tenant):
    t = tenant["tenant_id"]
    tally.accepted(t, "goal", 3)
    tally.rejected(t, "goal", "invalid_signature")
    tally.rejected(None, "goal", "unknown_domain")
    assert run_job("flush") == 3
    tally.rejected(t, "goal", "invalid_signature")
    tally.rejected(None, "goal", "unknown_domain")
    run_job("flush")
    with connection():
        rows = {(r.tenant_id, r.outcome): r.count for r in OutcomeCount.select()}
    assert rows == {(t, "accepted"): 3, (t, "invalid_signature"): 2, (None, "unknown_domain"): 2}


def test_flush_puts_the_tallies_back_when_they_cannot_be_saved(moved, run_job, tenant):
    tally.rejected(tenant["tenant_id"], "goal", None)  # type: ignore[arg-type]  # not storable
    tally.accepted(tenant["tenant_id"], "goal")
    try:
        run_job("flush")
    except Exception:  # noqa: BLE001  the store refused the row
        pass
    else:
        raise AssertionError("flush should have failed")
    assert tally.drain() == {(tenant["tenant_id"], "goal", None): 1,
                             (tenant["tenant_id"], "goal", "accepted"): 1}


def test_jobs_run_on_the_command_line(runner, moved, add_event):
    add_event("goal", T0 - 60, value_hundredths=100, currency="USD")
    result = runner.invoke(args=["jobs", "run", "aggregate"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"job": "aggregate", "started_at": "2026-11-24T10:00:00Z",
                                         "finished_at": "2026-11-24T10:00:00Z",
                                         "rows": 3,  # its hour, its hour and day of attribution
                                         "error": None}
    assert json.loads(runner.invoke(args=["jobs", "run", "flush"]).output) == {"job": "flush",
                                                                               "rows": 0}
    unknown = runner.invoke(args=["jobs", "run", "everything"])
    assert unknown.exit_code == 2
