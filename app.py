"""The application factory: every package bound to one Flask app, lowest layer first."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import checks
from config import load as load_config
from conversions.core import clock
from conversions.ingest import (
    goals,
    limits,
    pixel,
    postbacks,
    rejections,
    signing,
    snippet,
    webhooks,
)
from conversions.jobs import scheduler, tasks
from conversions.monitoring import attribution, coverage, exposition, health, liveness, stats
from conversions.operations import (
    command_line,
    dead_letters,
    import_cli,
    imports,
    latest_test_events,
    replay,
    security_status,
    taxonomy,
    transfer_cli,
)
from conversions.rollups import tenant_series
from conversions.settings_page import views as settings_page
from conversions.tenants import cli as tenant_cli
from conversions.web import (
    errors,
    logs,
    openapi,
    prometheus,
    protections,
    proxies,
    rate_limits,
    secret_key,
    sessions,
    store_binding,
)

BLUEPRINTS = (liveness.bp, goals.bp, pixel.bp, webhooks.bp, postbacks.bp, health.bp, stats.bp,
              coverage.bp,
              dead_letters.bp, taxonomy.bp, latest_test_events.bp, security_status.bp, snippet.bp,
              attribution.bp, imports.bp, exposition.bp, settings_page.bp)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; its WSGI callable is wrapped in the HMAC middleware.

    ``config`` beats the environment, which beats ``config/defaults.py``.
    """
    # No app-wide static files: the settings page serves its own.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, config)
    error = checks.retention_error(app.config)
    if error:
        raise ValueError(error)
    logs.init_app(app)
    clock.use(app.config.get("CLOCK") or (
        clock.offset_file(app.config["CLOCK_FILE"]) if app.config.get("CLOCK_FILE") else None))
    protections.init_app(app)
    store_binding.init_app(app)
    errors.register(app)
    secret_key.init_app(app)
    app.session_interface = sessions.LeanCookieSessions()
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    rejections.init_app(app)
    openapi.init_app(app)
    tenant_cli.init_app(app)
    transfer_cli.init_app(app)
    import_cli.init_app(app)
    tasks.init_app(app)
    scheduler.init_app(app)
    replay.init_app(app)
    command_line.init_app(app)  # after every command
    app.wsgi_app = signing.protect(app)  # type: ignore[method-assign]
    rate_limits.init_app(app)
    limits.init_app(app)
    proxies.init_app(app)  # after the middleware: ProxyFix, when configured, wraps it
    # Outermost: nothing waits on a slow body.
    protections.read_bodies_in_time(app, on_reject=signing.record_rejection)
    tenant_series.init_app(app)
    prometheus.init_app(app)  # around everything: refusals of the middlewares are counted too
    exposition.init_app(app)  # the metrics port, when one is set, before anything else
    return app
