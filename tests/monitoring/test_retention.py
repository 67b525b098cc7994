"""Raw-event retention: events past RAW_EVENT_RETENTION_DAYS are pruned in batches once the
rollups hold them; every figure of the pruned periods survives; a pruned period is never
recomputed; a retention shorter than the oldest accepted event is a start-up error."""
from __future__ import annotations

import pytest

from app import create_app
from conversions.core.periods import DAY_MS
from conversions.rollups import aggregation
from conversions.store import retention
from conversions.store.database import connection
from conversions.store.models import Event
from tests.support import T0

DAY = 86400


def figures(client, tenant) -> tuple[dict, dict]:
    query = {"tenant_id": tenant["tenant_id"], "from": "2026-07-01T00:00:00Z",
             "to": "2026-11-25T00:00:00Z"}
    stats = client.get("/api/conversions/stats", query_string={**query, "granularity": "day"})
    attribution = client.get("/api/conversions/attribution", query_string=query)
    return stats.json, attribution.json


def stored_times() -> list[int]:
    with connection():
        return sorted(t for (t,) in Event.select(Event.occurred_at_ms).tuples())


def test_figures_of_pruned_periods_survive_the_prune(app, client, tenant, moved, add_event,
                                                     run_job, monkeypatch):
    app.config["RAW_EVENT_RETENTION_DAYS"] = 100
    monkeypatch.setattr(retention, "PRUNE_BATCH", 2)  # several batches
    for days_ago in (120, 110, 101, 101, 99, 1):  # received when they occurred
        at = T0 - days_ago * DAY
        add_event("goal", at, value_hundredths=100 * days_ago, currency="USD")
    add_event("webhook", T0, occurred=T0 - 60 * DAY, value_hundredths=5, currency="EUR")
    moved.advance(60)
    run_job("aggregate")
    before = figures(client, tenant)
    assert before[1]["events"] == 6

    assert run_job("prune").rows == 4  # the goals older than 100 whole days
    assert stored_times() == sorted(int((T0 - d * DAY) * 1000) for d in (99, 60, 1))
    assert figures(client, tenant) == before
    run_job("aggregate")
    assert figures(client, tenant) == before


def test_the_prune_leaves_events_the_aggregation_has_not_reached(app, tenant, moved, add_event,
                                                                 run_job):
    app.config["RAW_EVENT_RETENTION_DAYS"] = 100
    add_event("goal", T0 - 200 * DAY)
    moved.advance(60)
    run_job("aggregate")
    add_event("goal", moved.now, occurred=T0 - 150 * DAY)  # not yet aggregated (an import)
    assert run_job("prune").rows == 1
    assert stored_times() == [int((T0 - 150 * DAY) * 1000)]


def test_a_pruned_period_is_never_recomputed_from_what_is_left(app, client, tenant, moved,
                                                               add_event, run_job):
    app.config["RAW_EVENT_RETENTION_DAYS"] = 100
    old = T0 - 120 * DAY
    add_event("goal", old, value_hundredths=700, currency="USD")
    moved.advance(60)
    run_job("aggregate")
    run_job("prune")
    before = figures(client, tenant)
    # An event of that pruned day stored after all (the service accepts none this old; an
    # import of an export could): its day keeps the figures it had, and it stays in the tail
    # only until the aggregation passes it.
    add_event("goal", moved.now, occurred=old + 1, value_hundredths=1, currency="USD")
    moved.advance(60)
    run_job("aggregate")
    assert figures(client, tenant) == before
    with connection():
        assert retention.pruned_before_ms() == (int(T0 * 1000) - 100 * DAY_MS) // DAY_MS * DAY_MS
        assert aggregation.cursor_ms() > int(old * 1000)


def test_no_retention_keeps_every_raw_event(app, tenant, moved, add_event, run_job):
    add_event("goal", T0 - 400 * DAY)
    moved.advance(60)
    run_job("aggregate")
    assert run_job("prune").rows == 0
    assert len(stored_times()) == 1


@pytest.mark.parametrize(("settings", "error"), [
    pytest.param({"RAW_EVENT_RETENTION_DAYS": 30}, "at least 91 days", id="shorter-than-imports"),
    pytest.param({"RAW_EVENT_RETENTION_DAYS": 90}, "at least 91 days", id="no-day-to-spare"),
    pytest.param({"RAW_EVENT_RETENTION_DAYS": 91, "IMPORT_MAX_AGE_SECONDS": 100 * DAY},
                 "at least 101 days", id="longer-imports"),
    pytest.param({"RAW_EVENT_RETENTION_DAYS": 20, "IMPORT_MAX_AGE_SECONDS": DAY,
                  "FAILURES_MAX_AGE_DAYS": 14}, "at least 22 days", id="replayed-dead-letters"),
    pytest.param({"RAW_EVENT_RETENTION_DAYS": -1}, "whole number", id="negative"),
    pytest.param({"RAW_EVENT_RETENTION_DAYS": "90"}, "whole number", id="text"),
])
def test_a_retention_shorter_than_the_oldest_accepted_event_stops_the_start(
        database_url, settings, error):
    with pytest.raises(ValueError, match=error):
        create_app({"DATABASE_URL": database_url, **settings})


@pytest.mark.parametrize("days", [0, 91, 400])
def test_a_retention_beyond_the_oldest_accepted_event_starts(database_url, days):
    app = create_app({"DATABASE_URL": database_url, "RAW_EVENT_RETENTION_DAYS": days})
    assert app.config["RAW_EVENT_RETENTION_DAYS"] == days
