"""Fixtures for the settings page: an app with an admin token, a signed-in client."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import Server

TOKEN = "admin-token-for-tests-0123456789"
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, token: str = TOKEN):
    page = client.get("/settings/login", environ_overrides=REMOTE)
    return client.post("/settings/login", data={"csrf_token": csrf(page.text), "token": token},
                       environ_overrides=REMOTE)


@pytest.fixture
def admin_app(app):
    """The test app with an admin token; the session cookie also travels over plain http."""
    app.config.update(ADMIN_TOKEN=TOKEN, SESSION_COOKIE_SECURE=False)
    return app


@pytest.fixture
def signed_in(admin_app):
    """A test client from a non-loopback address, signed in with the admin token."""
    client = admin_app.test_client()
    assert sign_in(client).status_code == 302
    return client


@contextmanager
def served(url: str, tmp: Path) -> Iterator[Server]:
    """gunicorn (2 workers) with the admin token on the database at ``url``, keys read
    afresh each request, its secret key and log under ``tmp``."""
    env = {"DATABASE_URL": url, "CONVERSIONS_ADMIN_TOKEN": TOKEN,
           # Plain http on loopback: the cookie could not travel if it were Secure.
           "CONVERSIONS_SESSION_COOKIE_SECURE": "false",
           "CONVERSIONS_SECRET_KEY_FILE": str(tmp / "secret_key"),
           "CONVERSIONS_KEY_CACHE_SECONDS": "0", "CONVERSIONS_LOG_FORMAT": "text"}
    with Server(env, workers=2, log_path=tmp / "gunicorn.log") as running:
        yield running


@contextmanager
def signed_in_tab(browser, server: Server):
    """A Chromium tab that asked for /settings/system, was sent to sign in, and signed in."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(5000)
    tab = context.new_page()
    tab.goto(server.url + "/settings/system")
    assert tab.url.endswith("/settings/login")
    tab.fill("#token", TOKEN)
    tab.get_by_role("button", name="Sign in").click()
    assert tab.url.endswith("/settings/system")
    try:
        yield tab
    finally:
        context.close()


def text(tab, selector: str) -> str:
    """The visible text of the element at ``selector``."""
    return tab.locator(selector).inner_text().strip()
