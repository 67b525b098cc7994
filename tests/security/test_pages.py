"""The /settings pages: no access without the token or a session, no cross-site changes,
no DNS-rebound loopback, and the HTML protections on every page."""
from __future__ import annotations

import pytest

from tests.support import ADMIN_TOKEN, concrete, operations

PAGES = operations("get", "post", page=True)
WRITES = operations("post", page=True)
FORM = {"csrf_token": "x", "tenant_id": "x", "kind": "pixel", "grace_seconds": "0"}


@pytest.fixture
def page_client(app):
    app.config.update(ADMIN_TOKEN=ADMIN_TOKEN, WTF_CSRF_ENABLED=True)
    return app.test_client()


def test_every_page_is_documented_as_behind_a_session():
    assert ("/settings/system", "get") in PAGES
    assert ("/settings/system/rotate", "post") in WRITES


@pytest.mark.parametrize(("path", "method"), PAGES)
def test_a_page_without_the_token_or_a_session_shows_nothing(page_client, tenant, path,
                                                             method):
    response = page_client.open(concrete(path), method=method.upper(), data=FORM)
    if method == "get":
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/settings/login")
    else:
        assert response.status_code in (400, 401)
    assert tenant["tenant_id"] not in response.get_data(as_text=True)


@pytest.mark.parametrize(("path", "method"), WRITES)
@pytest.mark.parametrize("cross_site", [{"Origin": "https://evil.example"},
                                        {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_post_is_refused_even_with_the_token(page_client, path, method,
                                                          cross_site):
    response = page_client.post(concrete(path), data=FORM,
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}", **cross_site})
    assert response.status_code == 403


def test_sign_in_from_another_site_is_refused(page_client):
    response = page_client.post("/settings/login", data={"token": ADMIN_TOKEN},
                                headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


@pytest.mark.parametrize(("host", "status"), [("localhost", 200), ("127.0.0.1:8000", 200),
                                              ("rebound.evil.example", 403)])
def test_without_a_token_only_a_loopback_host_is_answered(client, tenant, host, status):
    response = client.get("/settings/system", headers={"Host": host})
    assert response.status_code == status


@pytest.mark.parametrize("path", ["/settings/system", "/settings/login"])
def test_pages_carry_the_html_protections(page_client, path):
    response = page_client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                               follow_redirects=True)
    assert response.mimetype == "text/html"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
