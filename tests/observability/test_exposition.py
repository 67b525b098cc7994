"""GET /metrics in one process: guarded like the read endpoints, every family there, counts
that match the requests sent and health's tallies (duplicates and test events included),
per-tenant series only for the tenants named, OpenMetrics when asked; the metrics port's
dispatch."""
from __future__ import annotations

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conversions.jobs import tasks
from conversions.monitoring import exposition
from conversions.observability import instruments
from conversions.rollups import tally, tenant_series
from conversions.store.database import connection
from conversions.tenants import accounts
from tests.webhook_senders import body_of, event, package_headers

FAMILIES = {
    "conversions_http_requests", "conversions_http_request_duration_seconds",
    "conversions_events_received", "conversions_tenant_events_received",
    "conversions_store_commit_duration_seconds",
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


def accounts_create(domain: str, buyer: str) -> dict:
    with connection():
        return accounts.create(domain, buyer)


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


def test_duplicates_and_test_events_are_counted_as_health_counts_them(app, client, tenant,
                                                                    send_goal):
    before = scrape(client)
    for n in (1, 2, 3, 1, 2):  # three stored, two sent again
        assert pixel(client, f"d-{n}").status_code == 200
    flagged = {"X-Conversions-Test": "T1"}
    assert client.get("/api/conversions/pixel", query_string={
        "buyer_id": "buyer-1", "event_name": "signup", "test_event_code": "T1"}).status_code \
        == 200
    assert send_goal(headers=flagged).status_code == 202
    assert send_goal(value=20000, headers=flagged).status_code == 400  # a test, refused
    batch = body_of({"events": [event(0), event(1)]})
    first = package_headers(tenant["webhook_secret"], batch)
    for headers in (first, first, package_headers(tenant["webhook_secret"], batch)):
        assert client.post("/api/conversions/webhook?buyer_id=buyer-1", data=batch,
                           headers=headers).status_code in (200, 202)
    assert pixel(client, "d-4", buyer="nobody").status_code == 400
    with app.app_context():
        tasks.run("flush", force=True)
    health = client.get("/api/conversions/health").json
    after = scrape(client)

    def by_outcome(samples):
        counts: dict[str, float] = {}
        for (name, labels), count in samples.items():
            if name == "conversions_events_received_total":
                outcome = dict(labels)["outcome"]
                counts[outcome] = counts.get(outcome, 0) + count
        return counts

    sent = {outcome: count - by_outcome(before).get(outcome, 0)
            for outcome, count in by_outcome(after).items()}
    sent = {outcome: int(count) for outcome, count in sent.items() if count}
    # 3 pixels and 2 webhook events stored; 2 pixels, a replayed delivery (2 events) and its
    # events in a new delivery (2) already stored; 3 test events, one of them refused.
    assert health["received"] == {"accepted": 5, "duplicate": 6, "test": 3}
    assert health["errors"] == {"unknown_buyer": 1}
    assert sent == {**health["received"], **health["errors"]}


def test_per_tenant_series_only_for_the_tenants_named(app, client, tenant):
    other = accounts_create("other.example.com", "buyer-2")
    before = scrape(client)
    assert pixel(client, "t-1").status_code == 200
    assert pixel(client, "t-2", buyer="buyer-2").status_code == 200
    off = scrape(client)
    assert not [key for key in off if key[0] == "conversions_tenant_events_received_total"]
    tenant_series.configure(tenant_series.parse("Shop.Example.com, unknown.example"))
    try:
        assert pixel(client, "t-3").status_code == 200
        assert pixel(client, "t-4", buyer="buyer-2").status_code == 200
        assert pixel(client, "t-5", buyer="nobody").status_code == 400
        on = scrape(client)
    finally:
        tenant_series.configure(frozenset())
    assert other["tenant_id"] not in str(on)

    def tenant_count(samples, name, outcome="accepted"):
        return value(samples, "conversions_tenant_events_received_total", tenant=name,
                     source="pixel", outcome=outcome)

    assert (tenant_count(on, "shop.example.com"), tenant_count(on, "other"),
            tenant_count(on, "other", "unknown_buyer")) == (1, 1, 1)
    assert value(on, "conversions_events_received_total", source="pixel", outcome="accepted") \
        - value(before, "conversions_events_received_total", source="pixel",
                outcome="accepted") == 4


def test_more_tenants_than_the_cap_stop_the_start(database_url):
    from app import create_app

    names = ",".join(f"t{n}.example" for n in range(tenant_series.MAX_TENANTS + 1))
    with pytest.raises(ValueError, match="at most 20"):
        create_app({"DATABASE_URL": database_url, "METRICS_TENANTS": names})


@pytest.mark.parametrize(("bind", "port"), [
    pytest.param("", None, id="unset"),
    pytest.param("127.0.0.1:9100", 9100, id="host-port"),
    pytest.param("[::1]:9100", 9100, id="ipv6"),
    pytest.param("9100", "error", id="port-alone"),
    pytest.param("localhost:http", "error", id="port-name"),
    pytest.param("localhost:70000", "error", id="port-too-large"),
])
def test_the_metrics_bind_names_a_port(bind, port):
    if port == "error":
        with pytest.raises(ValueError, match="host:port"):
            exposition.metrics_port(bind)
    else:
        assert exposition.metrics_port(bind) == port


@pytest.mark.parametrize(("port", "path", "status"), [
    pytest.param("9100", "/metrics", 200, id="metrics-port"),
    pytest.param("9100", "/api/conversions/health", 404, id="metrics-port-other-path"),
    pytest.param("8000", "/metrics", 403, id="service-port-guarded"),
    pytest.param("8000", "/healthz", 200, id="service-port"),
])
def test_the_metrics_port_serves_the_exposition_alone_unguarded(database_url, port, path,
                                                                status):
    from app import create_app

    served = create_app({"DATABASE_URL": database_url, "METRICS_BIND": "127.0.0.1:9100",
                         "ADMIN_TOKEN": ""})
    response = served.test_client().get(path, environ_overrides={
        "SERVER_PORT": port, "REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == status
    if (port, status) == ("9100", 200):
        assert "conversions_events_received_total" in response.get_data(as_text=True)
    if (port, status) == ("9100", 404):
        assert response.json["error"] == "not_found"


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX], ids=["tcp", "unix"])
def test_the_metrics_port_is_the_connection_s_not_the_host_header_s(database_url, tmp_path,
                                                                  family):
    """Under gunicorn the connection's own socket decides: on a Unix socket gunicorn derives
    SERVER_PORT from the Host header, which any client sets."""
    from app import create_app

    served = create_app({"DATABASE_URL": database_url, "METRICS_BIND": "127.0.0.1:9100",
                         "ADMIN_TOKEN": "s3cret"})
    with socket.socket(family) as connection:
        connection.bind(("127.0.0.1", 0) if family == socket.AF_INET
                        else str(tmp_path / "gunicorn.sock"))
        response = served.test_client().get("/metrics", headers={"Host": "example.com:9100"},
                                            environ_overrides={"SERVER_PORT": "9100",
                                                               "gunicorn.socket": connection})
    assert response.status_code == 401  # the service's guarded /metrics, not the open port


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
