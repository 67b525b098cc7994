"""Postback set-up and CSV upload on /settings/system, in real Chromium against gunicorn."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from conversions.core import clock
from conversions.core.periods import iso
from tests import support
from tests.support import ADMIN_TOKEN, http, served, signed_in_tab, text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settings-postbacks")
    url, (shop,) = support.served_database(tmp, ("shop.example.com", "buyer-1"),
                                           SECRET_KEY="seeding-only")
    with served(url, tmp) as running:
        running.shop, running.tmp = shop, tmp
        yield running


@pytest.fixture(scope="module")
def page(server, browser):
    """One signed-in tab; the steps build on each other in order."""
    with signed_in_tab(browser, server) as tab:
        yield tab


def postback(server, token: str, **query) -> int:
    return http("GET", f"{server.url}/api/conversions/postback/generic/{token}?"
                       f"{urlencode(query)}")[0]


def test_issuing_a_token_shows_every_providers_url_once(server, page):
    assert "No live token" in text(page, "#postbacks")
    assert "/api/conversions/postback/adjust/<token>?event_name={event_name}" in text(
        page, "#postback-url-adjust")
    page.get_by_role("button", name="Issue a new token").click()
    token = text(page, "#new-postback-token-value")
    assert token.startswith("pb_")
    urls = text(page, "#new-postback-urls")
    for provider in ("appsflyer", "adjust", "branch", "redtrack", "voluum", "generic"):
        assert f"/api/conversions/postback/{provider}/{token}" in urls
    assert postback(server, token, event_name="lead", event_id="b-1") == 202
    page.goto(f"{server.url}/settings/system")
    assert page.locator("#new-postback-token").count() == 0
    assert token not in page.content()
    assert token[:10] in text(page, "#postback-tokens")
    server.token = token


def test_the_allow_list_refuses_other_addresses_and_can_be_cleared(server, page):
    page.fill("#networks", "192.0.2.0/24")
    page.get_by_role("button", name="Save allow-list").click()
    assert "Allow-list saved: 192.0.2.0/24." in text(page, ".notice")
    assert postback(server, server.token, event_name="lead") == 403  # we are 127.0.0.1
    page.fill("#networks", "bogus")
    page.get_by_role("button", name="Save allow-list").click()
    assert "bogus is not an IP address or CIDR range" in text(page, "#networks-form")
    page.fill("#networks", "127.0.0.0/8")
    page.get_by_role("button", name="Save allow-list").click()
    assert postback(server, server.token, event_name="lead", event_id="b-2") == 202


def test_rotation_issues_a_second_token_and_revokes_the_first(server, page):
    page.get_by_role("button", name="Issue a new token").click()
    second = text(page, "#new-postback-token-value")
    page.goto(f"{server.url}/settings/system")
    page.get_by_role("button", name=f"Revoke token {server.token[:10]}").click()
    assert "Token revoked" in text(page, ".notice")
    assert postback(server, server.token, event_name="lead") == 401
    assert postback(server, second, event_name="lead", event_id="b-3") == 202
    assert server.token[:10] not in text(page, "#postback-tokens")


def test_a_csv_upload_shows_its_result_table(server, page):
    recent = iso(clock.now_ms() - 3_600_000)
    path = server.tmp / "offline.csv"
    path.write_text("event_name,event_ts,value,currency,event_id\n"
                    f"purchase,{recent},19.99,EUR,csv-1\n"
                    "purchase,yesterday,5,EUR,csv-2\n"
                    f"purchase,{recent},5,,csv-3\n")
    page.set_input_files("#import-file", str(path))
    page.get_by_role("button", name="Import").click()
    assert "Nothing was stored: 2 of 3 rows break rules." in text(page, "#import-outcome")
    rows = text(page, "#import-errors tbody").split("\n")
    assert rows == ["3\tevent_ts\tinvalid_event\tmust be ISO-8601 or Unix seconds",
                    "4\tcurrency\tinvalid_event\tis required with a value"]
    page.set_input_files("#import-file", str(path))
    page.check("#import-partial")
    page.get_by_role("button", name="Import").click()
    assert text(page, "#import-outcome") == "Imported."
    assert text(page, "#import-result tbody") == "3\t1\t0\t2"
    status, _, body = http("GET", f"{server.url}/api/conversions/stats?tenant_id="
                                  f"{server.shop['tenant_id']}&source_type=import",
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status == 200
    (row,) = json.loads(body)["series"]
    assert (row["events"], row["value"]) == (1, {"EUR": "19.99"})
