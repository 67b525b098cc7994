"""The application factory."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import load as load_config
from conversions import (
    cli,
    clock,
    db,
    errors,
    goals,
    headers,
    health,
    limits,
    logs,
    pixel,
    secret_key,
    signing,
    webhooks,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; its WSGI callable is wrapped in the HMAC middleware.

    ``config`` beats the environment, which beats ``config/defaults.py``.
    """
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, config)
    logs.init_app(app)
    clock.use(app.config.get("CLOCK"))
    db.init_app(app)
    errors.register(app)
    secret_key.init_app(app)
    headers.init_app(app)
    for blueprint in (health.bp, goals.bp, pixel.bp, webhooks.bp):
        app.register_blueprint(blueprint)
    cli.init_app(app)
    app.wsgi_app = signing.protect(app)  # type: ignore[method-assign]
    limits.init_app(app)  # after the middleware: ProxyFix, when configured, wraps it
    return app
