"""One conversion reported by the pixel and by the server counts once, with the server's
value, whatever the order; coverage says how many the pixel saw. Through the front door."""
from __future__ import annotations

from decimal import Decimal

import pytest

from conversions.core import clock
from conversions.rollups import aggregation
from conversions.store.database import connection
from conversions.tenants import postback_tokens, settings
from tests.support import ADMIN_TOKEN, REMOTE, sign_in
from tests.webhook_senders import body_of, event, package_headers

PIXEL = "/api/conversions/pixel"
WEBHOOK = "/api/conversions/webhook?buyer_id=buyer-1"


def pixel(client, event_id: str, value: str, name: str = "purchase"):
    query = {"buyer_id": "buyer-1", "source_type": "pixel", "event_name": name,
             "event_value": value, "currency": "USD", "event_id": event_id}
    answer = client.get(PIXEL, query_string=query, headers={"Accept": "application/json"})
    assert answer.status_code == 202, answer.json
    return answer.json


def webhook(client, tenant, event_id: str, value: str, name: str = "purchase") -> None:
    body = body_of(event(event_id=event_id, event_value=value, event_name=name))
    answer = client.post(WEBHOOK, data=body,
                         headers=package_headers(tenant["webhook_secret"], body))
    assert answer.status_code == 202, answer.json


def aggregate(app) -> None:
    """The aggregation job's run up to now (a pixel taken over later is in the rollups)."""
    with app.app_context(), connection():
        aggregation.aggregate(clock.now_ms())


def read(client, path: str, tenant, **query):
    answer = client.get(f"/api/conversions/{path}", query_string={
        "tenant_id": tenant["tenant_id"], **query})
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def reported(app, client, tenant, frozen_clock):
    with connection():
        token = postback_tokens.issue(tenant["tenant_id"], "https://conv.example")["token"]
    pixel(client, "order-A", "10.00")  # A: pixel, then the webhook with another value
    aggregate(app)
    frozen_clock.advance(5)
    webhook(client, tenant, "order-A", "12.00")
    webhook(client, tenant, "order-B", "20.00")  # B: webhook, then the pixel
    frozen_clock.advance(5)
    answers = [pixel(client, "order-B", "25.00")]
    answers.append(pixel(client, "order-C", "5.00"))  # C: pixel only
    webhook(client, tenant, "order-D", "7.00")  # D: webhook only
    postback = client.get(f"/api/conversions/postback/generic/{token}", query_string={
        "event_name": "purchase", "value": "30.00", "currency": "USD", "event_id": "order-E"})
    assert postback.status_code == 202, postback.json  # E: postback, then the pixel
    aggregate(app)
    pixel(client, "order-E", "30.00")
    pixel(client, "order-F", "3.00", name="lead")  # F: one id, two event names
    webhook(client, tenant, "order-F", "9.00")
    frozen_clock.advance(5)
    return answers


def test_the_optimizer_feed_counts_each_conversion_once_with_the_servers_value(
        app, client, tenant, reported):
    for _ in range(2):  # from the tail, then from the rollups
        feed = read(client, "metrics", tenant, group_by="event_name")
        # The webhooks' event time is a minute before the clock: near the hour, an hour apart
        # from the pixels', so the periods are summed.
        by_name: dict[str, tuple[int, dict[str, str]]] = {}
        for row in feed["series"]:
            count, value = by_name.get(row["event_name"], (0, {}))
            by_name[row["event_name"]] = (count + row["conversions"], {
                currency: str(Decimal(value.get(currency, "0")) + Decimal(amount))
                for currency, amount in row["value"].items()})
        # A 12, B 20, C 5, D 7, E 30, F 9 (the webhook's purchase)
        assert by_name == {"purchase": (6, {"USD": "83.00"}), "lead": (1, {"USD": "3.00"})}
        aggregate(app)


def test_stats_count_reports_received_and_those_superseded(client, tenant, reported):
    series = read(client, "stats", tenant)["series"]
    got = {row["source_type"]: (row["events"], row["superseded"], row["value"])
           for row in series}
    assert got == {"pixel": (5, 3, {"USD": "8.00"}),  # A, B, E superseded; C and F count
                   "webhook": (4, 0, {"USD": "48.00"}), "postback": (1, 0, {"USD": "30.00"})}


def test_coverage_is_exact(client, tenant, reported):
    body = read(client, "coverage", tenant)
    purchase = {"server": 5, "browser": 4, "both": 3, "server_only": 2, "browser_only": 1,
                "coverage": "0.6000", "value_mismatches": 2}
    lead = {"server": 0, "browser": 1, "both": 0, "server_only": 0, "browser_only": 1,
            "coverage": None, "value_mismatches": 0}
    assert body["event_names"] == {"purchase": purchase, "lead": lead}
    assert body["total"] == {"server": 5, "browser": 5, "both": 3, "server_only": 2,
                             "browser_only": 2, "coverage": "0.6000", "value_mismatches": 2}
    assert body["window_seconds"] == 172_800
    only = read(client, "coverage", tenant, event_name="lead")
    assert only["event_names"] == {"lead": lead}
    refused = client.get("/api/conversions/coverage", query_string={
        "tenant_id": tenant["tenant_id"], "event_name": "no spaces"})
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_parameter")


def test_a_pixel_learns_nothing_of_the_servers_report(reported):
    after_server, alone = reported  # order-B (the webhook came first), order-C (no webhook)
    assert after_server.keys() == alone.keys()
    assert {k: v for k, v in after_server.items() if k != "event_id"} == {
        k: v for k, v in alone.items() if k != "event_id"}


def test_reports_outside_the_window_are_two_conversions(app, client, tenant, frozen_clock):
    pixel(client, "order-W", "4.00")
    frozen_clock.advance(48 * 3600 + 1)
    webhook(client, tenant, "order-W", "6.00")
    feed = read(client, "metrics", tenant, granularity="day")
    assert [(row["conversions"], row["value"]) for row in feed["series"]][-2:] == [
        (1, {"USD": "4.00"}), (1, {"USD": "6.00"})]
    since = {"from": str(int(clock.now()) - 3 * 86400)}
    assert read(client, "coverage", tenant, **since)["total"] == {
        "server": 1, "browser": 1, "both": 0, "server_only": 1, "browser_only": 1,
        "coverage": "0.0000", "value_mismatches": 0}


def test_the_settings_page_says_what_the_pixel_saw(app, tenant, reported):
    app.config.update(ADMIN_TOKEN=ADMIN_TOKEN, SESSION_COOKIE_SECURE=False)
    signed_in = app.test_client()
    assert sign_in(signed_in).status_code == 302
    page = signed_in.get(f"/settings/system?tenant_id={tenant['tenant_id']}",
                         environ_overrides=REMOTE).text
    assert ('<p class="coverage" id="coverage-purchase">The pixel saw 60 % of the 5 purchase '
            "conversions your server reported in the last 7 days; 2 had a different value.</p>"
            ) in page
    assert 'id="coverage-lead"' not in page  # the server reported no lead


def test_a_tenants_window_applies_and_has_no_per_source_value(app, client, tenant,
                                                                frozen_clock):
    with connection():
        settings.put(tenant["tenant_id"], "dedup_window_seconds", "3600")
        with pytest.raises(ValueError, match="unknown setting"):
            settings.put(tenant["tenant_id"], "dedup_window_seconds.pixel", "60")
    pixel(client, "order-H", "4.00")
    frozen_clock.advance(3601)
    webhook(client, tenant, "order-H", "6.00")
    total = read(client, "coverage", tenant)["total"]
    assert (total["server"], total["browser"], total["both"]) == (1, 1, 0)
    assert read(client, "coverage", tenant)["window_seconds"] == 3600
