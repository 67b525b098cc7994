"""Fixtures for the settings page: an app with an admin token, a signed-in client."""
from __future__ import annotations

import re

import pytest

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
