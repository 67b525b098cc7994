"""Every endpoint: body limits, admin access, cross-site refusal and security headers."""
from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.exceptions import NotFound

from conversions.web import protections
from conversions.web.auth import admin_required
from conversions.web.errors import register
from tests.support import ADMIN_TOKEN, concrete, operations, wsgi_layer
from wsgi_hmac import HmacMiddleware

BODY_METHODS = ("post", "put", "patch")


def body_limit(app, path: str, method: str) -> int:
    """The route's own limit (protections.BODY_LIMITS); a signed route's middleware agrees."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=method.upper())
    except NotFound:  # a provider the postback route does not know: any route's default
        endpoint = None
    limit = protections.body_limit(app.config, endpoint)
    route = wsgi_layer(app, HmacMiddleware).routes.get(path)
    assert route is None or route.max_body == limit
    return limit


@pytest.mark.parametrize(("path", "method"), operations(*BODY_METHODS))
def test_a_body_over_the_limit_is_refused_with_413_json(app, client, tenant, path, method):
    app.config["IMPORT_MAX_BODY"] = 2 * 1024 * 1024  # not 1 GiB of test body
    url = concrete(path) + "?domain=shop.example.com&buyer_id=buyer-1"
    body = b"{" + b" " * body_limit(app, concrete(path), method) + b"}"
    response = client.open(url, method=method.upper(), data=body,
                           headers={"Content-Type": "application/json",
                                    "Accept": "application/json",  # the pixel: not its GIF
                                    "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 413, response.data[:200]
    assert response.get_json()["error"] == "payload_too_large"


def test_every_body_taking_endpoint_is_checked():
    assert operations(*BODY_METHODS), "no endpoint takes a body?"


@pytest.fixture
def admin_client(app):
    app.config["ADMIN_TOKEN"] = ADMIN_TOKEN
    return app.test_client()


def call(client, path, method, **headers):
    return client.open(concrete(path), method=method.upper(), headers=headers,
                       json={} if method in BODY_METHODS else None)


@pytest.mark.parametrize(("path", "method"), operations("get", *BODY_METHODS, admin=True))
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {ADMIN_TOKEN}"])
def test_admin_endpoints_refuse_requests_without_the_token(admin_client, path, method,
                                                           authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = call(admin_client, path, method, **headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(("path", "method"), operations("get", *BODY_METHODS, admin=True))
@pytest.mark.parametrize("cross_site", [{"Origin": "https://evil.example"},
                                        {"Sec-Fetch-Site": "cross-site"}])
def test_admin_endpoints_refuse_cross_site_requests_even_with_the_token(admin_client, path,
                                                                        method, cross_site):
    response = call(admin_client, path, method, Authorization=f"Bearer {ADMIN_TOKEN}", **cross_site)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize(("path", "method"), operations("get", admin=True))
def test_admin_endpoints_answer_with_the_token(admin_client, path, method):
    response = call(admin_client, path, method, Authorization=f"Bearer {ADMIN_TOKEN}")
    assert response.status_code not in (401, 403), response.data[:300]


@pytest.mark.parametrize(("path", "method"), operations("get", admin=False))
def test_endpoints_documented_as_public_answer_without_the_token(admin_client, path, method):
    response = call(admin_client, path, method)
    assert response.status_code not in (401, 403), (path, response.data[:300])


@pytest.mark.parametrize(("path", "method"), operations("get", admin=False))
def test_every_response_carries_nosniff_and_html_the_page_protections(admin_client, path,
                                                                      method):
    response = call(admin_client, path, method, Authorization=f"Bearer {ADMIN_TOKEN}")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if response.mimetype == "text/html":
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("path", "method"), operations("get", admin=True))
def test_html_admin_pages_carry_the_page_protections(admin_client, path, method):
    response = call(admin_client, path, method, Authorization=f"Bearer {ADMIN_TOKEN}")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if response.mimetype == "text/html":
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


def tiny_app(token: str = "") -> Flask:
    """A bare app with one admin page, to hold the protections to their contract."""
    app = Flask(__name__)
    app.config.update(ADMIN_TOKEN=token, MAX_CONTENT_LENGTH=1024)
    register(app)
    protections.init_app(app)

    @app.route("/page", methods=["GET", "POST"])
    @admin_required
    def page():
        return "<!doctype html><title>admin</title>"

    return app


@pytest.mark.parametrize(
    ("token", "headers", "environ", "status"),
    [
        pytest.param("", {}, {}, 200, id="loopback-no-token"),
        pytest.param("", {"Origin": "http://localhost"}, {}, 200, id="same-origin"),
        pytest.param("", {"Origin": "https://evil.example"}, {}, 403, id="cross-origin"),
        pytest.param("", {"Origin": "null"}, {}, 403, id="opaque-origin"),
        pytest.param("", {"Origin": "null", "Sec-Fetch-Site": "same-origin"}, {}, 200,
                     id="opaque-origin-of-a-no-referrer-page"),
        pytest.param("", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, {},
                     403, id="both-cross-site"),
        pytest.param("", {"Sec-Fetch-Site": "cross-site"}, {}, 403, id="fetch-cross-site"),
        pytest.param("", {"Host": "rebound.evil.example"}, {}, 403, id="dns-rebinding"),
        pytest.param("", {}, {"REMOTE_ADDR": "203.0.113.9"}, 403, id="remote-no-token"),
        pytest.param("t0ken", {"Authorization": "Bearer t0ken",
                               "Origin": "https://evil.example"}, {}, 403, id="token-cross-site"),
        pytest.param("t0ken", {"Authorization": "Bearer t0ken", "Host": "conv.example.com"},
                     {"REMOTE_ADDR": "203.0.113.9"}, 200, id="token-from-anywhere"),
    ],
)
def test_admin_access_refuses_cross_site_and_rebound_requests(token, headers, environ, status):
    response = tiny_app(token).test_client().post("/page", headers=headers,
                                                  environ_overrides=environ)
    assert response.status_code == status, response.data


def test_html_gets_a_content_security_policy_and_no_framing():
    response = tiny_app().test_client().get("/page")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_view_that_ignores_its_body_still_gets_the_limit():
    response = tiny_app().test_client().post("/page", data=b"x" * 1025)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"
