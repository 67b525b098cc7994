"""/settings/system in real Chromium against a real gunicorn, on a seeded data set."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from conversions_client import sign_goal

from conversions.core import clock
from conversions.core.periods import DAY_MS, HOUR_MS, floor
from conversions.settings_page import filters
from conversions.store.database import connection
from conversions.store.models import Event, OutcomeCount
from conversions.tenants import accounts, settings
from tests import support
from tests.support import ADMIN_TOKEN, ROOT, empty_database, http, served, signed_in_tab, text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "tests" / "artifacts"


def event(tenant_id: str, source: str, received_ms: int, **fields) -> None:
    Event.create(tenant=tenant_id, source_type=source, signed=source != "pixel",
                 event_name="purchase", occurred_at_ms=received_ms, received_at_ms=received_ms,
                 dedup_key=f"id:{uuid.uuid4()}", **fields)


def seed(url: str) -> dict:
    """Two tenants: shop.example.com with pixel events 2 hours ago and goals 30 hours ago
    (two first touched by AI search 3 days before), none from webhooks, and rejections this
    hour; new.example.com with nothing yet."""
    from app import create_app

    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text", "SECRET_KEY": "seeding-only"})
    now = clock.now_ms()
    with connection():
        empty_database()
        shop = accounts.create("shop.example.com", "buyer-1")
        accounts.create("new.example.com", "buyer-2")
        pixel_at = now - 2 * HOUR_MS
        for _ in range(5):
            event(shop["tenant_id"], "pixel", pixel_at)
        goal_at = now - 30 * HOUR_MS
        for _ in range(2):
            event(shop["tenant_id"], "goal", goal_at, value_hundredths=1250, currency="USD",
                  first_touch_bucket="ai_search", first_touch_at_ms=goal_at - 3 * DAY_MS)
        event(shop["tenant_id"], "goal", goal_at, value_hundredths=4000, currency="USD")
        this_hour = floor(now, "hour")
        for source, outcome, count in [
                ("goal", "invalid_signature", 4), ("pixel", "invalid_event", 2),
                ("webhook", "invalid_signature", 1), ("pixel", "accepted", 5)]:
            OutcomeCount.create(tenant_id=shop["tenant_id"], source_type=source, outcome=outcome,
                                hour_start_ms=this_hour, count=count)
    return {**shop, "pixel_at": pixel_at}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settings-page")
    url = support.test_database_url(tmp)
    shop = seed(url)
    with served(url, tmp) as running:
        running.shop = shop
        yield running


@pytest.fixture(scope="module")
def page(server, browser):
    """One signed-in tab for the module's steps, which build on each other in order."""
    with signed_in_tab(browser, server) as tab:
        tab.select_option("#tenant-picker", label="shop.example.com (buyer buyer-1)")
        tab.get_by_role("button", name="Show").click()
        yield tab


def test_each_panel_shows_the_seeded_figures(server, page):
    assert "shop.example.com" in text(page, "h1")
    assert "degraded" in text(page, "#readiness-state")
    assert "✓ Done" in text(page, "#check-first-pixel")
    assert "✓ Fresh" in text(page, "#check-fresh-pixel")
    assert "✗ Stale" in text(page, "#check-fresh-goal")
    assert "✗ Not yet" in text(page, "#check-first-webhook")
    assert "✓ Done" in text(page, "#check-secret-webhook")
    assert text(page, "#health-ingestion") == "stale"
    assert text(page, "#health-errors tbody").split("\n") == [
        "invalid_event\t2", "invalid_signature\t5"]
    assert text(page, "#health-last-event") == filters.when(server.shop["pixel_at"])
    assert text(page, "#total-pixel") == "pixel 5"
    assert text(page, "#total-goal") == "goal 3"
    assert text(page, "#total-webhook") == "webhook 0"
    assert page.locator("svg.chart title").first.text_content() == (
        "Events per hour, last 7 days, by source type")
    assert text(page, "#total-postback") == "postback 0"
    assert text(page, "#total-import") == "import 0"
    assert page.locator("svg.chart polyline").count() == 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "settings-system.png", full_page=True)
    if os.environ.get("CONVERSIONS_DOCS_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "settings-system.png", ROOT / "docs" / "settings-system.png")


def test_the_attribution_summary_counts_signed_goals_by_first_touch(page):
    name, goals, revenue, median, p90 = text(page, "#attribution-ai_search").split("\t")
    assert [name, goals, revenue] == ["ai search", "2", "25.00 USD"]
    # From the lag sketch: within 1 % (and the rounding to hundredths of a day).
    assert float(median) == pytest.approx(3.0, rel=0.01, abs=0.005)
    assert float(p90) == pytest.approx(3.0, rel=0.01, abs=0.005)
    assert "within 1 % of the exact lags" in text(page, "#attribution")
    assert text(page, "#attribution-unattributed").split("\t") == [
        "unattributed", "1", "40.00 USD", "n/a", "n/a"]


def test_a_tenant_without_events_shows_how_to_send_the_first(page):
    page.select_option("#tenant-picker", label="new.example.com (buyer buyer-2)")
    page.get_by_role("button", name="Show").click()
    empty = text(page, "#no-events")
    assert "No events yet" in empty
    assert "buyer_id=buyer-2" in empty
    assert "curl -i -X POST" in empty
    assert "not ready" in text(page, "#readiness-state")
    page.select_option("#tenant-picker", label="shop.example.com (buyer buyer-1)")
    page.get_by_role("button", name="Show").click()


def save_window(page, seconds: str) -> None:
    page.fill("#freshness_window_seconds__all", seconds)
    page.get_by_role("button", name="Save settings").click()
    assert "Settings saved" in text(page, ".notice")


def test_changing_the_freshness_window_changes_readiness(server, page):
    save_window(page, str(2 * 86400))  # the goals of 30 hours ago are fresh now
    assert text(page, "#readiness-state strong") == "ready"
    assert "✓ Fresh" in text(page, "#check-fresh-goal")
    assert text(page, "#health-ingestion") == "receiving"
    save_window(page, "3600")  # and now even the pixel events of 2 hours ago are stale
    assert text(page, "#readiness-state strong") == "not ready"
    assert "✗ Stale" in text(page, "#check-fresh-pixel")
    status, _, body = http("GET", f"{server.url}/api/conversions/readiness?tenant_id="
                           f"{server.shop['tenant_id']}", headers={
                               "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status == 200
    assert json.loads(body)["state"] == "not_ready"  # the running service uses the setting


def test_a_post_without_the_csrf_token_is_refused(server, page):
    answer = page.request.post(server.url + "/settings/system/limits", form={
        "tenant_id": server.shop["tenant_id"], "freshness_window_seconds__all": "86400"})
    assert answer.status == 400
    assert "security token" in answer.text()
    with connection():
        assert settings.overrides(server.shop["tenant_id"]) == {
            "freshness_window_seconds": "3600"}


def test_a_rotated_secret_signs_goals_at_once(server, page):
    page.select_option("#kind", "pixel")
    page.fill("#grace_seconds", "3600")
    page.get_by_role("button", name="Rotate secret").click()
    secret = text(page, "#new-secret-value")
    assert len(secret) == 64
    assert secret != server.shop["pixel_secret"]
    page.screenshot(path=ARTIFACTS / "settings-rotated.png")
    goal_url = f"{server.url}/api/v1/track/pixel/goal?domain=shop.example.com"
    for key in (secret, server.shop["pixel_secret"]):  # the old one within its grace period
        signed = sign_goal(server.shop["tenant_id"], key, "purchase", f"sess-{uuid.uuid4()}",
                           value=9.99, currency="EUR")
        status, _, answer = http("POST", goal_url, signed.body, signed.headers)
        assert status == 202, answer
    page.goto(f"{server.url}/settings/system?tenant_id={server.shop['tenant_id']}")
    assert page.locator("#new-secret").count() == 0
    assert "the previous one works until" in text(page, "#check-secret-pixel")
    assert secret not in page.content()
    assert secret not in (Path(server.log_path).read_text())
