"""``GET|POST /api/conversions/postback/<provider>/<token>``: each provider's documented
example stores the expected fields; tokens, allow-lists, dedup and statuses."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from conversions.core import clock
from conversions.rollups import aggregation, tally
from conversions.store.database import connection
from conversions.store.models import Event, IngestionFailure, PostbackKey, PostbackNetwork
from conversions.tenants import postback_tokens, settings

BASE = "/api/conversions/postback"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def frozen(app, frozen_clock):
    """The clock at a chosen instant, so each provider's example is sent as documented."""
    frozen_clock.now = at("2026-11-24 10:00:30")
    return frozen_clock


@pytest.fixture
def token(app, tenant) -> str:
    with connection():
        return postback_tokens.issue(tenant["tenant_id"], "https://conv.example")["token"]


def url(provider: str, token: str, **query) -> str:
    return f"{BASE}/{provider}/{token}" + (f"?{urlencode(query)}" if query else "")


def stored() -> list[Event]:
    with connection():
        return list(Event.select().order_by(Event.id))


# AppsFlyer Push API: GET query of the selected fields (support.appsflyer.com 207034356);
# event_time in UTC "yyyy-mm-dd hh:mm:ss.sss", the article's own "2019-09-17 00:09:00.123";
# appsflyer_id and eventValue as in AppsFlyer's S2S reference (dev.appsflyer.com).
APPSFLYER = {
    "event_name": "af_purchase", "event_revenue": "6", "event_revenue_currency": "USD",
    "event_time": "2019-09-17 00:09:00.123", "appsflyer_id": "1234567890123-1234567",
    "event_value": '{"af_revenue": "6", "af_content_type": "wallets", "af_content_id": "15854"}',
    "media_source": "googleadwords_int", "platform": "android",
}


def test_appsflyer_push_api_example_is_stored(client, tenant, token, frozen):
    frozen.now = at("2019-09-17 00:10:00")
    response = client.get(url("appsflyer", token, **APPSFLYER))
    assert response.status_code == 202, response.json
    assert response.json["duplicate"] is False
    (event,) = stored()
    assert (event.tenant_id, event.source_type, event.provider) == (
        tenant["tenant_id"], "postback", "appsflyer")
    assert (event.event_name, event.value, event.currency) == ("af_purchase", Decimal("6.00"),
                                                               "USD")
    assert event.occurred_at_ms == int(at("2019-09-17 00:09:00.123") * 1000)
    assert event.signed is False
    assert event.time_estimated is False
    assert json.loads(event.properties) == {"click_id": "1234567890123-1234567"}
    assert event.dedup_key.startswith("pb:appsflyer:sha:")


def test_appsflyer_post_json_with_revenue_only_in_event_value(client, token, frozen):
    frozen.now = at("2019-09-17 00:10:00")
    body = {"event_name": "af_purchase", "event_time": "2019-09-17 00:09:00.123",
            "appsflyer_id": "1234567890123-1234567",
            "event_value": '{"af_revenue":"12.99","af_currency":"eur"}'}
    assert client.post(url("appsflyer", token), json=body).status_code == 202
    (event,) = stored()
    assert (event.value, event.currency) == (Decimal("12.99"), "EUR")


def test_appsflyer_retry_is_a_duplicate_even_at_another_receipt_time(client, token, frozen):
    frozen.now = at("2019-09-17 00:10:00")
    first = client.get(url("appsflyer", token, **APPSFLYER))
    frozen.now += 300
    again = client.get(url("appsflyer", token, **APPSFLYER))
    assert (again.status_code, again.json["duplicate"]) == (200, True)
    assert again.json["event_id"] == first.json["event_id"]
    assert len(stored()) == 1


# Adjust event callback (help.adjust.com "Event callbacks": created_at 1404214665, adid
# 18546f6171f67e29d1cb983322ad1329, event token bkrfgq, name purchase_100_coins) with the
# revenue placeholders of "Ad revenue callbacks": {revenue} 345 in cents, {currency} usd.
ADJUST = {
    "gps_adid": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "adid": "18546f6171f67e29d1cb983322ad1329", "tracker_token": "abc123",
    "tracker_name": "Network1::Christmas::Reindeers::320x70_en", "app_name": "MyApp",
    "activity_kind": "event", "created_at": "1404214665", "event": "bkrfgq",
    "event_name": "purchase_100_coins", "revenue": "345", "currency": "usd",
}


def test_adjust_callback_example_reads_revenue_in_cents(client, token, frozen):
    frozen.now = 1404214665 + 60
    response = client.get(url("adjust", token, **ADJUST))
    assert response.status_code == 202, response.json
    (event,) = stored()
    assert (event.provider, event.event_name) == ("adjust", "purchase_100_coins")
    assert (event.value, event.currency) == (Decimal("3.45"), "USD")
    assert event.occurred_at_ms == 1404214665_000
    assert json.loads(event.properties) == {"click_id": "18546f6171f67e29d1cb983322ad1329"}


def test_adjust_revenue_float_is_whole_units_and_the_token_names_an_unnamed_event(
        client, token, frozen):
    frozen.now = 1404214665 + 60
    query = {k: v for k, v in ADJUST.items() if k not in ("event_name", "revenue")}
    assert client.get(url("adjust", token, **query, revenue_float="3.99")).status_code == 202
    (event,) = stored()
    assert (event.event_name, event.value) == ("bkrfgq", Decimal("3.99"))


# Branch webhooks, default POST body (help.branch.io "Webhooks for Developers": top-level
# name, id and timestamp in Unix ms; transaction data nested in event_data).
BRANCH = {
    "name": "PURCHASE", "id": "560118823436783451", "timestamp": 1795514100000,
    "event_data": {"revenue": 1.5, "currency": "USD", "transaction_id": "tras_Id_1232343434",
                   "shipping": 10.2, "tax": 12.3, "coupon": "test_coupon",
                   "affiliation": "test_affiliation", "description": "Preferred purchase"},
    "user_data": {"os": "IOS", "os_version": "12.1", "environment": "FULL_APP",
                  "platform": "IOS_APP", "app_version": "1.0.0"},
    "last_attributed_touch_data": {"~channel": "facebook", "~campaign": "summer"},
}


def test_branch_webhook_example_is_stored_by_its_transaction_id(client, token, frozen):
    response = client.post(url("branch", token), json=BRANCH)
    assert response.status_code == 202, response.json
    (event,) = stored()
    assert (event.provider, event.event_name, event.value, event.currency) == (
        "branch", "PURCHASE", Decimal("1.50"), "USD")
    assert event.occurred_at_ms == 1795514100000
    assert event.dedup_key == "pb:branch:id:tras_Id_1232343434"
    again = client.post(url("branch", token), json={**BRANCH, "id": "560118823436783452"})
    assert (again.status_code, again.json["duplicate"]) == (200, True)


# RedTrack conversion postback (docs.redtrack.io "Tracking different event types": &type=,
# statuses Approved, Pending, Declined, Other; clickid and sum as in its postback template).
REDTRACK = {"clickid": "5f1a9c2be4b0a1d2c3e4f5a6", "sum": "30", "type": "Deposit",
            "currency": "USD"}


def test_redtrack_declined_is_stored_without_revenue_then_approved_once(
        client, tenant, token, frozen):
    declined = client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    assert declined.status_code == 202, declined.json
    (event,) = stored()
    assert (event.status, event.value_hundredths, event.currency) == ("declined", None, "USD")
    assert (event.event_name, event.time_estimated) == ("Deposit", True)
    assert event.occurred_at_ms == clock.now_ms()
    frozen.now += 600
    approved = client.get(url("redtrack", token, **REDTRACK, status="Approved"))
    assert (approved.status_code, approved.json["updated"]) == (202, True)
    assert approved.json["event_id"] == declined.json["event_id"]
    (event,) = stored()
    assert (event.status, event.value) == ("approved", Decimal("30.00"))
    again = client.get(url("redtrack", token, **REDTRACK, status="Approved"))
    assert (again.status_code, again.json["duplicate"], again.json["updated"]) == (
        200, True, False)
    assert len(stored()) == 1
    # The approval is accepted like the declined conversion it changed; the repeat is not.
    assert tally.drain() == {(tenant["tenant_id"], "postback", "accepted"): 2,
                             (tenant["tenant_id"], "postback", "duplicate"): 1}


def test_redtrack_declined_value_never_counts_in_stats(client, tenant, token, frozen):
    client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    client.get(url("redtrack", token, **{**REDTRACK, "clickid": "other-click"},
                   status="Approved"))
    stats = client.get(f"/api/conversions/stats?tenant_id={tenant['tenant_id']}"
                       "&source_type=postback").json
    (row,) = stats["series"]
    assert (row["source_type"], row["events"], row["value"]) == ("postback", 2,
                                                                 {"USD": "30.00"})


def test_redtrack_event_id_dedups_and_a_bad_status_is_refused(client, token, frozen):
    first = client.get(url("redtrack", token, **REDTRACK, rdtk_event_id="ev-1"))
    again = client.get(url("redtrack", token, **{**REDTRACK, "sum": "31"}, rdtk_event_id="ev-1"))
    assert (first.status_code, again.status_code) == (202, 200)
    bad = client.get(url("redtrack", token, **REDTRACK, status="Refunded"))
    assert bad.status_code == 400
    assert bad.json["error"] == "invalid_event"
    assert list(bad.json["fields"]) == ["status"]


# Voluum S2S postback (doc.voluum.com "Track conversions using S2S postback URL": cid,
# payout, txid, currency, et).
VOLUUM = {"cid": "AAABBBCCCDDD1234567890", "payout": "12.5", "txid": "ord-7",
          "currency": "EUR", "et": "upsell"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_voluum_postback_example_is_stored(client, token, frozen, method):
    if method == "get":
        response = client.get(url("voluum", token, **VOLUUM))
    else:
        response = client.post(url("voluum", token), data=VOLUUM)
    assert response.status_code == 202, response.json
    (event,) = stored()
    assert (event.provider, event.event_name, event.value, event.currency) == (
        "voluum", "upsell", Decimal("12.50"), "EUR")
    assert event.dedup_key == "pb:voluum:id:ord-7"
    assert json.loads(event.properties) == {"click_id": "AAABBBCCCDDD1234567890"}


def test_voluum_without_txid_dedups_on_its_fields_not_the_receipt_time(client, token, frozen):
    query = {k: v for k, v in VOLUUM.items() if k != "txid"}
    first = client.get(url("voluum", token, **query))
    frozen.now += 3600
    again = client.get(url("voluum", token, **query))
    assert (first.status_code, again.status_code) == (202, 200)


def test_generic_postback_with_every_field(client, token, frozen):
    sent = {"event_name": "lead", "value": "9.99", "currency": "gbp",
            "event_ts": "2026-11-24T09:30:00+01:00", "event_id": "L-1", "click_id": "c-9"}
    assert client.post(url("generic", token), json=sent).status_code == 202
    (event,) = stored()
    assert (event.event_name, event.value, event.currency) == ("lead", Decimal("9.99"), "GBP")
    assert event.occurred_at_ms == int(at("2026-11-24 08:30:00") * 1000)
    assert event.dedup_key == "pb:generic:id:L-1"


def test_a_missing_event_time_is_the_receipt_time_and_flagged(client, token, frozen):
    response = client.get(url("generic", token, event_name="lead"))
    assert response.json["time_estimated"] is True
    (event,) = stored()
    assert (event.occurred_at_ms, event.received_at_ms) == (clock.now_ms(), clock.now_ms())


@pytest.mark.parametrize(("query", "field"), [
    pytest.param({"event_name": "lead", "value": "-1", "currency": "USD"}, "value",
                 id="negative value"),
    pytest.param({"event_name": "lead", "value": "10000.01", "currency": "USD"}, "value",
                 id="over the bound"),
    pytest.param({"event_name": "lead", "value": "5"}, "currency", id="value without currency"),
    pytest.param({"event_name": "lead", "currency": "ZZZ"}, "currency", id="unknown currency"),
    pytest.param({"event_name": "two words"}, "event_name", id="bad name"),
    pytest.param({"event_name": "lead", "event_ts": "2026-11-01T00:00:00Z"}, "event_ts",
                 id="older than the accepted age"),
    pytest.param({"event_name": "lead", "event_ts": "not-a-time"}, "event_ts", id="bad time"),
])
def test_every_rule_of_the_other_sources_applies(client, token, frozen, query, field):
    response = client.get(url("generic", token, **query))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_event"
    assert list(response.json["fields"]) == [field]


def test_a_refusal_names_the_providers_own_parameter(client, token, frozen):
    response = client.get(url("voluum", token, cid="c", payout="lots", currency="USD"))
    assert list(response.json["fields"]) == ["payout"]


def test_personal_data_is_refused_and_kept_as_a_masked_dead_letter(client, tenant, token,
                                                                  frozen):
    response = client.get(url("generic", token, event_name="lead", click_id="ann@example.com"))
    assert (response.status_code, response.json["error"]) == (400, "pii_rejected")
    assert response.json["fields"] == {"click_id": "email"}
    with connection():
        (failure,) = IngestionFailure.select()
    assert (failure.source_type, failure.reason) == ("postback", "pii_rejected")
    assert "ann@example.com" not in failure.payload
    assert token not in failure.payload


def test_an_invalid_event_dead_letter_replays_once_the_rule_is_relaxed(client, app, tenant,
                                                                      token, frozen):
    response = client.get(url("generic", token, event_name="big", value="20000",
                              currency="USD"))
    assert response.status_code == 400
    with connection():
        (failure,) = IngestionFailure.select()
    assert json.loads(failure.payload) == {"provider": "generic", "params": {
        "event_name": "big", "value": "20000", "currency": "USD"}}
    app.config["MAX_EVENT_VALUE"] = 50000
    replayed = client.post(f"/api/conversions/ingestion/failures/{failure.id}/replay")
    assert replayed.json["outcome"] == "stored", replayed.json
    (event,) = stored()
    assert (event.source_type, event.provider, event.value) == ("postback", "generic",
                                                                Decimal("20000.00"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_or_revoked_token_is_refused(client, tenant, token, method):
    call = getattr(client, method)
    assert call(url("generic", "pb_nope", event_name="x")).json["error"] == "invalid_token"
    with connection():
        postback_tokens.revoke(tenant["tenant_id"], token)
    response = call(url("generic", token, event_name="x"))
    assert (response.status_code, response.json["error"]) == (401, "invalid_token")
    assert stored() == []



@pytest.fixture
def queries(monkeypatch):
    """Counts the statements the store runs (each still runs)."""
    from conversions.store.database import database

    run = database.obj.execute_sql
    seen: list[str] = []

    def counted(sql, *args, **kwargs):
        seen.append(sql)
        return run(sql, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counted)
    return seen


def test_unknown_tokens_are_throttled_per_address_before_any_query(client, tenant, token,
                                                                   queries):
    client.application.config["POSTBACK_GUESS_LIMIT"] = "3 per minute"

    def send(sent: str, address: str):
        return client.get(url("generic", sent, event_name="x"),
                          environ_overrides={"REMOTE_ADDR": address})

    guesses = [send(f"pb_guess{i}", "198.51.100.7") for i in range(3)]
    assert [r.json["error"] for r in guesses] == ["invalid_token"] * 3
    queries.clear()
    refused = send("pb_guess3", "198.51.100.7")
    assert (refused.status_code, refused.json["error"]) == (429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert queries == []
    # Even a live token needs a look-up (no cache in these tests): the address waits too.
    assert send(token, "198.51.100.7").status_code == 429
    assert send(token, "192.0.2.1").status_code == 202
    assert send("pb_guess4", "192.0.2.1").status_code == 401


def test_a_revoked_token_sent_again_is_looked_up_once(client, tenant, token, queries):
    """A provider still sending a revoked token costs no query a request, and its address
    is not throttled for it."""
    client.application.config.update(POSTBACK_GUESS_LIMIT="3 per minute",
                                      KEY_CACHE_SECONDS=2)
    with connection():
        postback_tokens.revoke(tenant["tenant_id"], token)
    queries.clear()
    codes = {client.get(url("generic", token, event_name="x")).status_code for _ in range(10)}
    assert codes == {401}
    assert 0 < len(queries) <= 3


def test_unknown_tokens_never_push_live_ones_out_of_the_cache(app, tenant, token):
    cache = postback_tokens.TokenCache(live=10, unknown=10)
    assert cache.load(token)[0] == tenant["tenant_id"]
    with connection():  # revoked behind the cache's back: only a look-up would see it
        PostbackKey.update(revoked_at_ms=1).execute()
    for i in range(50):
        cache.load(f"pb_flood{i}")
    assert cache.cached(token, ttl=600) == (tenant["tenant_id"], [])
    assert cache.cached("pb_flood0", ttl=600) is None  # the oldest miss left
    assert cache.cached("pb_flood49", ttl=600) == (None, [])


def test_a_token_of_another_tenant_is_refused(client, token):
    response = client.get(url("generic", token, event_name="x",
                              tenant_id="00000000-0000-0000-0000-000000000000"))
    assert (response.status_code, response.json["error"]) == (401, "invalid_token")
    assert client.get(url("generic", token, event_name="x",
                          buyer_id="someone-else")).status_code == 401
    assert client.get(url("generic", token, event_name="x",
                          buyer_id="buyer-1")).status_code == 202


def test_several_tokens_are_live_until_revoked(client, tenant, token):
    with connection():
        second = postback_tokens.issue(tenant["tenant_id"], "https://conv.example")["token"]
    assert client.get(url("generic", token, event_name="a")).status_code == 202
    assert client.get(url("generic", second, event_name="b")).status_code == 202


def test_an_unknown_provider_is_not_found(client, token):
    assert client.get(url("tune", token, event_name="x")).status_code == 404


def test_head_stores_nothing(client, token):
    assert client.head(url("generic", token, event_name="x")).status_code == 405
    assert stored() == []


def test_a_body_over_the_limit_is_413(client, token, frozen):
    response = client.post(url("branch", token), json={"name": "x", "pad": "a" * 300_000})
    assert (response.status_code, response.json["error"]) == (413, "payload_too_large")
    # Over the 64 KiB of routes without a limit of their own, within the documented 256 KiB.
    near = client.post(url("branch", token), json={**BRANCH, "pad": "a" * 250_000})
    assert near.status_code == 202, near.json


def test_the_allow_list_refuses_other_addresses(client, tenant, token):
    with connection():
        postback_tokens.set_networks(tenant["tenant_id"], "192.0.2.0/24, 2001:db8::/32")
    outside = client.get(url("generic", token, event_name="x"),
                         environ_overrides={"REMOTE_ADDR": "198.51.100.7"})
    assert (outside.status_code, outside.json["error"]) == (403, "address_not_allowed")
    inside = client.get(url("generic", token, event_name="x"),
                        environ_overrides={"REMOTE_ADDR": "192.0.2.44"})
    assert inside.status_code == 202
    assert client.get(url("generic", token, event_name="y"),
                      environ_overrides={"REMOTE_ADDR": "2001:db8::5"}).status_code == 202



def test_ipv4_mapped_allow_list_entries_match_ipv4_senders(client, tenant, token):
    with connection():
        saved = postback_tokens.set_networks(tenant["tenant_id"],
                                             "::ffff:203.0.113.5, ::ffff:198.51.100.0/120")
        # An entry saved before entries were normalised, as it was stored then.
        PostbackNetwork.create(tenant=tenant["tenant_id"], cidr="::ffff:c000:22c/128",
                               created_at_ms=0)
    assert saved == ["203.0.113.5/32", "198.51.100.0/24"]

    def status(address: str) -> int:
        return client.get(url("generic", token, event_name=address.replace(":", "-")),
                          environ_overrides={"REMOTE_ADDR": address}).status_code

    assert [status(a) for a in ("203.0.113.5", "::ffff:203.0.113.5", "198.51.100.77",
                                "192.0.2.44", "::ffff:192.0.2.44")] == [202] * 5
    assert [status(a) for a in ("203.0.113.6", "::ffff:203.0.113.6", "2001:db8::1")] == [403] * 3


def test_the_allow_list_reads_the_address_proxy_fix_leaves(database_url, tenant):
    from app import create_app

    proxied = create_app({"TESTING": True, "DATABASE_URL": database_url, "PROXY_FIX_HOPS": 1,
                          "KEY_CACHE_SECONDS": 0, "LOG_FORMAT": "text"})
    with connection():
        token = postback_tokens.issue(tenant["tenant_id"], "https://x")["token"]
        postback_tokens.set_networks(tenant["tenant_id"], "192.0.2.0/24")
    client = proxied.test_client()
    sent = url("generic", token, event_name="x")
    assert client.get(sent, headers={"X-Forwarded-For": "192.0.2.9"},
                      environ_overrides={"REMOTE_ADDR": "10.0.0.1"}).status_code == 202
    # Only the last hop is trusted: an address the client put first does not count.
    assert client.get(sent, headers={"X-Forwarded-For": "192.0.2.9, 198.51.100.1"},
                      environ_overrides={"REMOTE_ADDR": "10.0.0.1"}).status_code == 403


def test_the_tenant_rate_limit_applies(client, tenant, token):
    settings.put(tenant["tenant_id"], "rate_limit.postback", "2 per minute")
    codes = [client.get(url("generic", token, event_name=f"e{i}")).status_code
             for i in range(3)]
    assert codes == [202, 202, 429]



def test_requests_off_the_allow_list_never_spend_the_tenants_budget(client, tenant, token):
    """A leaked token used from off the allow-list cannot starve the allowed provider."""
    settings.put(tenant["tenant_id"], "rate_limit.postback", "2 per minute")
    with connection():
        postback_tokens.set_networks(tenant["tenant_id"], "192.0.2.0/24")

    def codes(address: str, count: int) -> list[int]:
        return [client.get(url("generic", token, event_name=f"e{address[-2:]}{i}"),
                           environ_overrides={"REMOTE_ADDR": address}).status_code
                for i in range(count)]

    assert codes("198.51.100.7", 10) == [403] * 10
    assert codes("192.0.2.44", 3) == [202, 202, 429]


def test_a_test_postback_is_kept_apart(client, token):
    response = client.get(url("generic", token, event_name="lead", test_event_code="T1"))
    assert (response.status_code, response.json["verdict"]) == (202, "accepted")
    assert stored() == []


def test_postbacks_are_never_attributed(client, tenant, token, frozen):
    client.get(url("generic", token, event_name="purchase", value="10", currency="USD"))
    report = client.get(f"/api/conversions/attribution?tenant_id={tenant['tenant_id']}").json
    assert report["events"] == 0


def test_readiness_shows_the_postback_source(client, tenant, token):
    client.get(url("generic", token, event_name="lead"))
    body = client.get(f"/api/conversions/readiness?tenant_id={tenant['tenant_id']}").json
    assert body["sources"]["postback"]["connected"] is True
    assert body["ready"] is True


def test_the_token_never_reaches_a_log(client, token, caplog):
    client.get(url("generic", token, event_name="two words"))
    client.get(url("generic", token + "x", event_name="x"))
    assert token not in caplog.text


def test_an_approval_of_an_aggregated_declined_event_counts_it_once(client, tenant, token,
                                                                   frozen):
    def figures() -> tuple[int, dict]:
        with connection():
            (row,) = client.get(f"/api/conversions/stats?tenant_id={tenant['tenant_id']}"
                                ).json["series"]
        return row["events"], row["value"]

    client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    with connection():
        aggregation.aggregate(clock.now_ms() + 1)
    assert figures() == (1, {"USD": "0.00"})
    frozen.now += 600
    client.get(url("redtrack", token, **REDTRACK, status="Approved"))
    assert figures() == (1, {"USD": "30.00"})
    with connection():
        aggregation.aggregate(clock.now_ms() + 1)
    assert figures() == (1, {"USD": "30.00"})


def test_a_conversion_declined_approved_then_declined_ends_without_revenue(
        client, tenant, token, frozen):
    for status, code in (("Declined", 202), ("Approved", 202), ("Declined", 202),
                         ("Approved", 200)):
        frozen.now += 60
        answer = client.get(url("redtrack", token, **REDTRACK, status=status))
        assert answer.status_code == code, (status, answer.json)
    (event,) = stored()
    assert (event.status, event.value_hundredths) == ("declined", None)
    assert json.loads(event.properties)["declined_value"] == "30.00"


@pytest.mark.parametrize("before", ["Approved", "Pending", "Other", None])
def test_a_declined_reverses_any_counted_conversion_once(client, tenant, token, frozen, before):
    """Whatever status came first (or none), a Declined takes the value out of every figure
    once: stats, the optimizer feed and the rollups. A reversed conversion changes no more:
    a retried Approved (providers do not say in which order they sent two statuses) or
    Declined is a duplicate."""
    tenant_id = tenant["tenant_id"]

    def figures() -> list[tuple[int, dict]]:
        with connection():
            (stats,) = client.get(f"/api/conversions/stats?tenant_id={tenant_id}").json["series"]
            (feed,) = client.get(f"/api/conversions/metrics?tenant_id={tenant_id}"
                                 ).json["series"]
        return [(stats["events"], stats["value"]), (feed["conversions"], feed["value"])]

    first = client.get(url("redtrack", token, **REDTRACK,
                           **({"status": before} if before else {})))
    assert first.status_code == 202, first.json
    with connection():
        aggregation.aggregate(clock.now_ms() + 1)
    assert figures() == [(1, {"USD": "30.00"})] * 2
    frozen.now += 600
    declined = client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    assert (declined.status_code, declined.json["updated"], declined.json["status"]) == (
        202, True, "declined")
    assert declined.json["event_id"] == first.json["event_id"]
    (event,) = stored()
    assert (event.status, event.value_hundredths) == ("declined", None)
    assert json.loads(event.properties) == {"click_id": REDTRACK["clickid"],
                                            "declined_value": "30.00", "reversed": True}
    assert figures() == [(1, {"USD": "0.00"})] * 2
    with connection():
        aggregation.aggregate(clock.now_ms() + 1)
    assert figures() == [(1, {"USD": "0.00"})] * 2
    for status in ("Declined", "Approved", "Pending"):
        again = client.get(url("redtrack", token, **REDTRACK, status=status))
        assert (again.status_code, again.json["duplicate"], again.json["updated"]) == (
            200, True, False)
    assert figures() == [(1, {"USD": "0.00"})] * 2
    assert len(stored()) == 1


def test_a_second_declined_of_a_declined_conversion_is_a_duplicate(client, token, frozen):
    first = client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    again = client.get(url("redtrack", token, **REDTRACK, status="Declined"))
    assert (first.status_code, again.status_code, again.json["updated"]) == (202, 200, False)
    (event,) = stored()
    assert (event.status, event.value_hundredths) == ("declined", None)
    assert "reversed" not in json.loads(event.properties)


def test_tenant_postback_token_prints_the_token_once_with_every_providers_url(runner, tenant):
    result = runner.invoke(args=["tenant", "postback-token", "--domain", "shop.example.com"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    token = printed["token"]
    assert token.startswith("pb_")
    assert len(token) > 40
    assert set(printed["urls"]) == {"appsflyer", "adjust", "branch", "redtrack", "voluum",
                                    "generic"}
    assert printed["urls"]["adjust"].startswith(
        f"http://127.0.0.1:8000/api/conversions/postback/adjust/{token}?")
    assert "revenue={revenue}" in printed["urls"]["adjust"]
    assert "cid={clickid}" in printed["urls"]["voluum"]
    assert "clickid={clickid}" in printed["urls"]["redtrack"]
    with connection():
        (row,) = PostbackKey.select()
    assert token not in (row.key_hash, row.hint)
    assert row.key_hash == \
        postback_tokens.digest(token)
    revoked = runner.invoke(args=["tenant", "postback-token", "--domain", "shop.example.com",
                                  "--revoke", token])
    assert revoked.exit_code == 0, revoked.output
    assert token not in revoked.output
    again = runner.invoke(args=["tenant", "postback-token", "--domain", "shop.example.com",
                                "--revoke", token])
    assert again.exit_code != 0
    assert "no live postback token" in again.output


def test_tenant_postback_token_for_an_unknown_domain_fails_clearly(runner, app):
    result = runner.invoke(args=["tenant", "postback-token", "--domain", "nope.example"])
    assert result.exit_code != 0
    assert "no tenant with domain nope.example" in result.output
