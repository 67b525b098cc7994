"""Admin access: a bearer token when configured, else loopback clients only."""
from __future__ import annotations

import pytest
from flask import Flask

from conversions.web.auth import admin_required
from conversions.web.errors import register


def make_app(token: str) -> Flask:
    app = Flask(__name__)
    app.config["ADMIN_TOKEN"] = token
    register(app)

    @app.get("/admin")
    @admin_required
    def admin():
        return {"ok": True}

    return app


@pytest.mark.parametrize(
    ("token", "remote", "authorization", "status"),
    [
        pytest.param("", "127.0.0.1", None, 200, id="no-token-loopback"),
        pytest.param("", "::1", None, 200, id="no-token-loopback-v6"),
        pytest.param("", "203.0.113.9", None, 403, id="no-token-remote"),
        pytest.param("s3cret", "127.0.0.1", None, 401, id="token-missing-even-on-loopback"),
        pytest.param("s3cret", "203.0.113.9", "Bearer s3cret", 200, id="token-ok"),
        pytest.param("s3cret", "203.0.113.9", "bearer s3cret", 200, id="scheme-any-case"),
        pytest.param("s3cret", "203.0.113.9", "Bearer s3cre", 401, id="token-wrong"),
        pytest.param("s3cret", "203.0.113.9", "Basic s3cret", 401, id="wrong-scheme"),
    ],
)
def test_admin_access(token, remote, authorization, status):
    headers = {"Authorization": authorization} if authorization else {}
    response = make_app(token).test_client().get(
        "/admin", headers=headers, environ_overrides={"REMOTE_ADDR": remote})
    assert response.status_code == status
    if status != 200:
        assert response.json["error"] in ("unauthorized", "forbidden")
        assert "s3cret" not in response.get_data(as_text=True)


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_without_token_a_request_relayed_by_a_local_proxy_is_not_loopback(header):
    """gunicorn on 127.0.0.1 behind nginx on the same host: every peer is loopback."""
    response = make_app("").test_client().get(
        "/admin", headers={header: "203.0.113.9"}, environ_overrides={"REMOTE_ADDR": "127.0.0.1"})
    assert (response.status_code, response.json["error"]) == (403, "forbidden")


def test_a_relayed_client_is_judged_by_its_own_address_when_proxy_fix_resolves_it():
    app = make_app("")
    app.config["PROXY_FIX_HOPS"] = 1
    response = app.test_client().get(  # ProxyFix already set REMOTE_ADDR to the client's
        "/admin", headers={"X-Forwarded-For": "127.0.0.1"},
        environ_overrides={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200


@pytest.mark.parametrize(("host", "status"), [
    ("localhost", 200), ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200),
    ("evil.example:8000", 403),  # DNS rebinding: a site's own name now points at 127.0.0.1
])
def test_without_token_only_requests_naming_this_machine_are_answered(host, status):
    response = make_app("").test_client().get(
        "/admin", headers={"Host": host, "Origin": f"http://{host}"},
        environ_overrides={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == status
