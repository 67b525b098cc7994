"""Health: ingestion status, aggregation status, and error counts equal to the rejections
sent; the staleness job flags a source, alerts once, and clears it when events return."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conversions.store.database import connection
from conversions.store.models import SourceState
from tests.support import T0

DAY = 86400


def health(client, query: str = "") -> dict:
    response = client.get("/api/conversions/health" + query)
    assert response.status_code == 200, response.json
    return response.json


def test_error_counts_match_the_rejections_sent(client, tenant, moved, send_goal, run_job):
    for _ in range(3):
        assert send_goal(signature="00" * 32).status_code == 401
    assert send_goal(domain="nobody.example").status_code == 404
    assert send_goal(session="mail me at a@b.co").status_code == 400
    assert send_goal().status_code == 202
    assert send_goal(headers={"X-Conversions-Test": "T1"}).status_code == 202
    run_job("flush")
    tenant_health = health(client, f"?tenant_id={tenant['tenant_id']}")
    assert tenant_health["errors"] == {"invalid_signature": 3, "pii_rejected": 1}
    assert tenant_health["received"] == {"accepted": 1, "duplicate": 0, "test": 1}
    assert health(client)["errors"] == {"invalid_signature": 3, "pii_rejected": 1,
                                        "unknown_domain": 1}
    assert tenant_health["window"] == {"from": "2026-11-23T10:00:00Z",
                                       "to": "2026-11-24T10:00:00Z", "seconds": DAY}
    moved.advance(DAY + 3600)
    assert health(client)["errors"] == {}
    assert health(client)["received"] == {"accepted": 0, "duplicate": 0, "test": 0}


def test_ingestion_status_is_idle_then_receiving_then_stale(client, tenant, moved, send_goal):
    assert health(client)["ingestion"] == {"status": "idle", "last_event_at": None}
    send_goal()
    assert health(client)["ingestion"] == {"status": "receiving",
                                           "last_event_at": "2026-11-24T10:00:00Z"}
    moved.advance(DAY + 1)
    query = f"?tenant_id={tenant['tenant_id']}"
    assert health(client, query)["ingestion"]["status"] == "stale"


def test_aggregation_status_follows_its_runs(client, tenant, moved, run_job, app):
    assert health(client)["aggregation"] == {"status": "never_run", "last_run_at": None,
                                             "last_error": None}
    run_job("aggregate")
    assert health(client)["aggregation"] == {"status": "ok", "last_error": None,
                                             "last_run_at": "2026-11-24T10:00:00Z"}
    moved.advance(3600)
    assert health(client)["aggregation"]["status"] == "lagging"
    settle = app.config["AGGREGATE_SETTLE_SECONDS"]
    app.config["AGGREGATE_SETTLE_SECONDS"] = "not a number"  # a run that fails
    failed = run_job("aggregate")
    app.config["AGGREGATE_SETTLE_SECONDS"] = settle
    assert failed.error.startswith("ValueError")
    assert health(client)["aggregation"] == {"status": "failing", "last_error": failed.error,
                                             "last_run_at": "2026-11-24T11:00:00Z"}


def test_health_parameters_are_checked(client):
    for query, name in [("?tenant_id=x", "tenant_id"), ("?window_seconds=5", "window_seconds"),
                        ("?window_seconds=abc", "window_seconds"),
                        ("?window_seconds=%C2%B2", "window_seconds")]:  # "²": isdigit, no int
        response = client.get("/api/conversions/health" + query)
        assert response.status_code == 400
        assert (response.json["error"], response.json["parameter"]) == ("invalid_parameter", name)


class Receiver(BaseHTTPRequestHandler):
    """An alert endpoint that fails its first request, then records what it receives."""

    received: list[dict] = []
    failures_left = 1

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Receiver.failures_left:
            Receiver.failures_left -= 1
            self.send_response(500)
        else:
            Receiver.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def alert_url(app):
    Receiver.received, Receiver.failures_left = [], 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config.update(ALERT_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/alerts",
                      ALERT_RETRY_SECONDS=0.01)
    yield
    server.shutdown()


def states() -> dict:
    with connection():
        return {s.source_type: (s.last_event_at_ms, s.stale_since_ms)
                for s in SourceState.select()}


def test_a_source_goes_stale_alerts_once_and_recovers(moved, add_event, run_job, tenant,
                                                      alert_url, caplog):
    add_event("pixel", T0)
    assert run_job("staleness").rows == 1
    assert states() == {"pixel": (int(T0 * 1000), None)}
    moved.advance(DAY + 60)
    with caplog.at_level(logging.WARNING, logger="conversions.monitoring.freshness"):
        run_job("staleness")
        moved.advance(60)
        run_job("staleness")  # still stale: no second warning
    stale_since = int((T0 + DAY) * 1000)
    assert states() == {"pixel": (int(T0 * 1000), stale_since)}
    warnings = [r for r in caplog.records if r.getMessage() == "source stale"]
    assert len(warnings) == 1
    assert warnings[0].source_type == "pixel"
    for thread in threading.enumerate():
        if thread.name == "conversions-alert":
            thread.join(10)
    assert Receiver.received == [{
        "alert": "source_stale", "tenant_id": tenant["tenant_id"], "source_type": "pixel",
        "stale_since": "2026-11-25T10:00:00Z", "last_event_at": "2026-11-24T10:00:00Z",
        "freshness_window_seconds": DAY}]
    add_event("pixel", moved.now)
    run_job("staleness")
    assert states() == {"pixel": (int(moved.now * 1000), None)}
