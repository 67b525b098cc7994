"""Admin access: a bearer token when configured, else loopback clients only."""
from __future__ import annotations

import pytest
from flask import Flask

from conversions.auth import admin_required
from conversions.errors import register


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
