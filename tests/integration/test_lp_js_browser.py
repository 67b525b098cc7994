"""``/lp.js`` in real headless Chromium, on a customer's page served from another origin."""
from __future__ import annotations

import functools
import json
import threading
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conversions.ingest.snippet import first_touch_sources
from tests.support import Server, http, served_database

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUYER = "buyer-lp"
TIMEOUT_MS = 30_000  # generous: the machine may be busy


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """gunicorn on its own database, with one tenant whose buyer id the pages use."""
    tmp = tmp_path_factory.mktemp("lp-js")
    url, (tenant,) = served_database(tmp, ("lp.example.com", BUYER))
    env = {"DATABASE_URL": url, "CONVERSIONS_LOG_FORMAT": "text",
           "CONVERSIONS_SCHEDULER_ENABLED": "0"}  # the jobs play no part here
    with Server(env, log_path=tmp / "gunicorn.log") as running:
        # Another process grabbing the free port first would answer /healthz but not this.
        assert http("GET", f"{running.url}/lp.js")[0] == 200, "not our server on this port"
        running.tenant_id = tenant["tenant_id"]
        yield running


@pytest.fixture(scope="module")
def site(api, tmp_path_factory):
    """The customer's landing pages, on their own origin: with and without data-buyer-id."""
    root: Path = tmp_path_factory.mktemp("site")
    page = ('<!doctype html><html><head><meta charset="utf-8"><title>Landing</title>'
            '<script src="{src}"{attrs}></script></head><body>Welcome</body></html>')
    (root / "landing.html").write_text(
        page.format(src=f"{api.url}/lp.js", attrs=f' data-buyer-id="{BUYER}"'))
    (root / "plain.html").write_text(page.format(src=f"{api.url}/lp.js", attrs=""))
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def new_context(browser):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture(scope="module")
def visits(browser):
    """One browser profile for the classification tests: each opens its own page."""
    context = new_context(browser)
    yield context
    context.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile, for tests that look at what the profile holds."""
    context = new_context(browser)
    yield context
    context.close()


def open_landing(context, site: str, referer: str | None = None, query: str = "",
                 page_name: str = "landing.html"):
    page = context.new_page()
    page.goto(f"{site}/{page_name}{query}", referer=referer)
    page.wait_for_function("() => window.lp !== undefined")
    return page


def first_touch(context, site, referer=None, query=""):
    page = open_landing(context, site, referer, query)
    touch = page.evaluate("lp.firstTouch()")
    assert page.evaluate("lp.firstTouch()") == touch  # computed once per page load
    page.close()
    return touch


def ai_engine_hosts() -> list:
    """Every AI engine host, from the one list."""
    return [pytest.param(f"https://{host}/some/path", source["engine"], id=host)
            for source in first_touch_sources()["ai_search"] for host in source["hosts"]]


@pytest.mark.parametrize(("referer", "engine"), ai_engine_hosts())
def test_every_listed_ai_engine_is_ai_search(visits, site, referer, engine):
    touch = first_touch(visits, site, referer)
    assert (touch["bucket"], touch["engine"]) == ("ai_search", engine)


@pytest.mark.parametrize(
    ("referer", "query", "bucket", "engine"),
    [
        pytest.param("https://chatgpt.com/c/123", "", "ai_search", "chatgpt", id="chatgpt"),
        pytest.param("https://chat.openai.com/", "", "ai_search", "chatgpt", id="chat-openai"),
        pytest.param("https://www.perplexity.ai/search?q=x", "", "ai_search", "perplexity",
                     id="perplexity-www"),
        pytest.param("https://gemini.google.com/app", "", "ai_search", "gemini",
                     id="gemini-not-google-search"),
        pytest.param("https://copilot.microsoft.com/", "", "ai_search", "copilot", id="copilot"),
        pytest.param("https://claude.ai/chat/1", "", "ai_search", "claude", id="claude"),
        pytest.param("https://www.google.de/search?q=x", "", "search", "google", id="google-de"),
        pytest.param("https://www.google.co.uk/", "", "search", "google", id="google-co-uk"),
        pytest.param("https://www.bing.com/search?q=x", "", "search", "bing", id="bing"),
        pytest.param("https://l.facebook.com/l.php", "", "social", "facebook", id="facebook"),
        pytest.param("https://t.co/abc", "", "social", "x", id="t-co"),
        pytest.param("https://notchatgpt.com/", "", "referral", None, id="lookalike-host"),
        pytest.param("https://news.example.org/story", "", "referral", None, id="unlisted"),
        pytest.param(None, "", "direct", None, id="no-referrer"),
        pytest.param(None, "?utm_source=chatgpt.com", "ai_search", "chatgpt", id="utm-chatgpt"),
        pytest.param(None, "?utm_source=Perplexity", "ai_search", "perplexity",
                     id="utm-any-case"),
        pytest.param("https://www.google.com/", "?utm_source=claude", "ai_search", "claude",
                     id="utm-ai-beats-search-referrer"),
        pytest.param("https://chatgpt.com/", "?utm_source=google", "ai_search", "chatgpt",
                     id="ai-referrer-beats-utm"),
        pytest.param("https://news.example.org/", "?utm_source=linkedin", "social", "linkedin",
                     id="utm-names-social"),
        pytest.param(None, "?utm_source=newsletter", "referral", None, id="utm-unlisted"),
    ],
)
def test_first_touch_bucket(visits, site, referer, query, bucket, engine):
    touch = first_touch(visits, site, referer, query)
    assert (touch["bucket"], touch["engine"]) == (bucket, engine)
    assert datetime.fromisoformat(touch["ts"]).tzinfo is not None


def test_a_same_site_referrer_is_direct(visits, site):
    touch = first_touch(visits, site, f"{site}/pricing.html")
    assert (touch["bucket"], touch["engine"]) == ("direct", None)


def stored(dedup_key: str):
    from conversions.store.database import connection
    from conversions.store.models import Event

    with connection():
        return Event.get_or_none(Event.dedup_key == dedup_key)


def send_hint(page, script: str):
    """Run ``script`` (calling lp.track); the request to the pixel endpoint and its response."""
    with page.expect_request(lambda r: "/api/conversions/pixel" in r.url) as sent:
        assert page.evaluate(script) is True
    response = sent.value.response()
    assert response is not None, sent.value.failure
    return sent.value, response


def test_track_reaches_the_pixel_endpoint_and_is_stored_unsigned(context, site, api):
    page = open_landing(context, site, "https://chatgpt.com/")
    request, response = send_hint(page, "lp.track('signup', {value: '12.50', "
                                        "currency: 'usd', event_id: 'evt-beacon'})")
    assert request.method == "POST"  # navigator.sendBeacon
    assert response.status == 200, response.text()
    event = stored("id:evt-beacon")
    assert event is not None
    assert (event.source_type, event.signed) == ("pixel", False)
    assert (event.tenant_id, event.event_name) == (api.tenant_id, "signup")
    assert (event.value_hundredths, event.currency) == (1250, "USD")
    # An unsigned hint never counts for attribution.
    status, _, body = http("GET", f"{api.url}/api/conversions/attribution?tenant_id="
                                  f"{api.tenant_id}&from=2000-01-01")
    assert status == 200
    assert json.loads(body)["events"] == 0


def test_track_falls_back_to_an_image_and_init_sets_the_buyer(context, site):
    context.add_init_script("delete Navigator.prototype.sendBeacon;")
    page = open_landing(context, site, page_name="plain.html")
    assert page.evaluate("lp.track('signup', {value: 1, currency: 'EUR'})") is False  # no buyer
    page.evaluate(f"lp.init({{buyerId: '{BUYER}'}})")
    request, response = send_hint(page, "lp.track('signup', {value: 2.5, currency: 'EUR', "
                                        "event_id: 'evt-image'})")
    assert request.method == "GET"
    assert response.status == 200, response.text()
    event = stored("id:evt-image")
    assert event is not None
    assert (event.source_type, event.signed, event.value_hundredths) == ("pixel", False, 250)


def test_nothing_is_written_to_cookies_or_storage(context, site):
    for referer, query in [("https://chatgpt.com/", ""), (None, "?utm_source=perplexity"),
                           ("https://www.google.com/", ""), (None, "")]:
        page = open_landing(context, site, referer, query)
        page.evaluate("lp.firstTouch()")
        page.evaluate("lp.track('view', {value: 0, currency: 'USD'})")
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("localStorage.length") == 0
        assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert context.cookies() == []
