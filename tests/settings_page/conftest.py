"""Fixtures for the settings page: an app with an admin token, a signed-in client."""
from __future__ import annotations

import pytest

from tests.support import ADMIN_TOKEN, sign_in


@pytest.fixture
def admin_app(app):
    """The test app with an admin token; the session cookie also travels over plain http."""
    app.config.update(ADMIN_TOKEN=ADMIN_TOKEN, SESSION_COOKIE_SECURE=False)
    return app


@pytest.fixture
def signed_in(admin_app):
    """A test client from a non-loopback address, signed in with the admin token."""
    client = admin_app.test_client()
    assert sign_in(client).status_code == 302
    return client
