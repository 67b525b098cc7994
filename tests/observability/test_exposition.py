"""GET /metrics in one process: guarded like the read endpoints, every family there, counts
that match the requests sent and health's tallies, OpenMetrics when asked."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conversions.observability import instruments
from conversions.rollups import tally

FAMILIES = {
    "conversions_http_requests", "conversions_http_request_duration_seconds",
    "conversions_events_received", "conversions_store_commit_duration_seconds",
    "conversions_store_commit_group_size", "conversions_store_write_queue_depth",
    "conversions_store_writer_restarts", "conversions_store_unavailable",
    "conversions_rate_limit_refusals", "conversions_signature_failures",
    "conversions_body_deadline_refusals", "conversions_store_up",
    "conversions_aggregation_lag_seconds",
    "conversions_aggregation_last_success_timestamp_seconds",
    "conversions_aggregation_last_run_duration_seconds",
    "conversions_aggregation_consecutive_failures", "conversions_dead_letters_pending",
    "conversions_sources_stale", "conversions_build_info", "process_cpu_seconds",
}


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def pixel(client, event_id: str, buyer: str = "buyer-1"):
    return client.get("/api/conversions/pixel", query_string={
        "buyer_id": buyer, "event_name": "signup", "event_id": event_id})


def test_every_family_is_exposed(client):
    response = client.get("/metrics")
    families = {family.name for family in
                text_string_to_metric_families(response.get_data(as_text=True))}
    assert response.mimetype == "text/plain"
    assert not FAMILIES - families


def test_counts_match_the_requests_sent_and_the_tallies_health_reads(client, tenant):
    tally.drain()
    before = scrape(client)
    for n in range(5):
        assert pixel(client, f"e-{n}").status_code == 200
    assert pixel(client, "e-x", buyer="nobody").status_code == 400
    signed = client.post("/api/conversions/webhook", data=b"{}",
                         headers={"Content-Type": "application/json"})
    assert signed.status_code == 400
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    tallied = tally.drain()
    accepted = sum(n for (_, source, outcome), n in tallied.items()
                   if (source, outcome) == ("pixel", "accepted"))
    assert delta("conversions_events_received_total", source="pixel", outcome="accepted") \
        == accepted == 5
    for (_, source, outcome), n in tallied.items():
        if outcome != "accepted":
            assert delta("conversions_events_received_total", source=source,
                         outcome=outcome) == n
    assert delta("conversions_http_requests_total", endpoint="pixel.track_pixel",
                 method="GET", status="2xx") == 5
    assert delta("conversions_http_requests_total", endpoint="pixel.track_pixel",
                 method="GET", status="4xx") == 1
    assert delta("conversions_http_request_duration_seconds_count",
                 endpoint="pixel.track_pixel") == 6
    # Refused by the middleware before Flask routed it: counted all the same, by its route.
    assert delta("conversions_http_requests_total", endpoint="webhooks.receive_webhook",
                 method="POST", status="4xx") == 1
    assert delta("conversions_signature_failures_total", reason=signed.json["error"]) == 1
    assert delta("conversions_store_commit_group_size_count") >= 5
    assert value(after, "conversions_store_up") == 1
    assert value(after, "conversions_build_info", version="0.1.0",
                 python=__import__("platform").python_version()) == 1


def test_openmetrics_when_asked(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.mimetype == "application/openmetrics-text"
    assert response.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.parametrize(("token", "headers", "remote", "status"), [
    pytest.param("", {}, "203.0.113.9", 403, id="remote-without-token"),
    pytest.param("", {"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1", 403, id="proxied"),
    pytest.param("s3cret", {}, "127.0.0.1", 401, id="token-missing"),
    pytest.param("s3cret", {"Authorization": "Bearer s3cret"}, "203.0.113.9", 200, id="token"),
])
def test_guarded_like_the_read_endpoints(app, token, headers, remote, status):
    app.config["ADMIN_TOKEN"] = token
    response = app.test_client().get("/metrics", headers=headers,
                                     environ_overrides={"REMOTE_ADDR": remote})
    assert response.status_code == status


def test_store_down_is_a_figure_not_an_error(app, client, monkeypatch):
    from peewee import OperationalError

    from conversions.monitoring import exposition

    def down(self):
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(exposition.StoreFigures, "_figures", down)
    assert value(scrape(client), "conversions_store_up") == 0


def test_off_records_nothing_on_the_request_path(app, client, tenant):
    instruments.enable(False)
    try:
        before = scrape(client)
        pixel(client, "off-1")
        after = scrape(client)
    finally:
        instruments.enable(True)
    for name in ("conversions_events_received_total", "conversions_http_requests_total"):
        assert sum(v for (n, _), v in after.items() if n == name) == \
            sum(v for (n, _), v in before.items() if n == name)


def test_throttled_guesses_are_counted_by_scope(app, client):
    app.config["POSTBACK_GUESS_LIMIT"] = "2 per minute"
    before = scrape(client)
    statuses = [client.get(f"/api/conversions/postback/generic/pb_guess{n}").status_code
                for n in range(3)]
    after = scrape(client)
    assert statuses[-1] == 429
    assert value(after, "conversions_rate_limit_refusals_total", scope="token-failures") \
        - value(before, "conversions_rate_limit_refusals_total", scope="token-failures") == 1
