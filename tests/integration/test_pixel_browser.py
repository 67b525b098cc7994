"""The pixel tag and sendBeacon in real headless Chromium, against a real gunicorn."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.support import Server, served_database

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn (2 workers) on its own database, with tenant ``browser-1``."""
    tmp = tmp_path_factory.mktemp("pixel-server")
    url, _ = served_database(tmp, ("browser.example.com", "browser-1"))
    with Server({"DATABASE_URL": url}, log_path=tmp / "gunicorn.log") as running:
        yield running


@pytest.fixture
def page(browser, server):
    """A page whose origin is the server (so the tag is what a site would serve)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/healthz")
    yield page
    context.close()


def stored(dedup_key: str, wait: float = 10.0):
    """The event with ``dedup_key``, waiting for an asynchronous beacon to land."""
    from conversions.store.database import connection
    from conversions.store.models import Event

    deadline = time.monotonic() + wait
    while True:
        with connection():
            found = Event.get_or_none(Event.dedup_key == dedup_key)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def pixel_src(server, **fields) -> str:
    return f"{server.url}/api/conversions/pixel?{urlencode(fields)}"


def load_image(page, src: str) -> int:
    page.set_content(f'<img id="px" src="{src}" width="1" height="1" alt="">')
    page.wait_for_function("document.getElementById('px').complete")
    return page.evaluate("document.getElementById('px').naturalWidth")


def test_pixel_tag_loads_and_stores_the_event(page, server):
    src = pixel_src(server, buyer_id="browser-1", source_type="pixel", event_name="purchase",
                    event_value="42.00", currency="eur", event_id="img-1")
    assert load_image(page, src) == 1
    event = stored("id:img-1")
    assert event is not None
    assert (event.source_type, event.signed, event.currency) == ("pixel", False, "EUR")


def test_bad_pixel_still_shows_an_image_and_stores_nothing(page, server):
    src = pixel_src(server, buyer_id="browser-1", event_name="purchase", event_value="-5",
                    currency="USD", event_id="img-bad")
    assert load_image(page, src) == 1
    assert stored("id:img-bad", wait=0) is None


@pytest.mark.parametrize("payload", [
    "new URLSearchParams({buyer_id: 'browser-1', event_name: 'signup', event_id: 'beacon-form'})",
    "JSON.stringify({buyer_id: 'browser-1', event_name: 'signup', event_id: 'beacon-json',"
    " event_value: 3, currency: 'usd'})",
], ids=["form", "json-text"])
def test_send_beacon_is_stored(page, server, payload):
    queued = page.evaluate(f"navigator.sendBeacon('{server.url}/api/conversions/pixel', {payload})")
    assert queued is True
    key = "id:" + ("beacon-form" if "URLSearchParams" in payload else "beacon-json")
    assert stored(key) is not None, json.dumps(payload)
