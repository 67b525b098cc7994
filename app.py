"""The application factory."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import load as load_config
from conversions import (
    attribution_api,
    cli,
    clock,
    db,
    errors,
    goals,
    health,
    imports_api,
    ingestion,
    jobs,
    limits,
    logs,
    monitoring,
    openapi,
    pixel,
    postbacks,
    protections,
    replay,
    scheduler,
    secret_key,
    security,
    sessions,
    settings_page,
    signing,
    snippet,
    stats,
    test_events,
    webhooks,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; its WSGI callable is wrapped in the HMAC middleware.

    ``config`` beats the environment, which beats ``config/defaults.py``.
    """
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, config)
    logs.init_app(app)
    clock.use(app.config.get("CLOCK") or (
        clock.offset_file(app.config["CLOCK_FILE"]) if app.config.get("CLOCK_FILE") else None))
    protections.init_app(app)
    db.init_app(app)
    errors.register(app)
    secret_key.init_app(app)
    app.session_interface = sessions.LeanCookieSessions()
    for blueprint in (health.bp, goals.bp, pixel.bp, webhooks.bp, postbacks.bp, monitoring.bp,
                      stats.bp, ingestion.bp, test_events.bp, security.bp, snippet.bp,
                      attribution_api.bp, imports_api.bp, settings_page.bp):
        app.register_blueprint(blueprint)
    openapi.init_app(app)
    cli.init_app(app)
    jobs.init_app(app)
    scheduler.init_app(app)
    replay.init_app(app)
    app.wsgi_app = signing.protect(app)  # type: ignore[method-assign]
    limits.init_app(app)  # after the middleware: ProxyFix, when configured, wraps it
    return app
