"""The store bound to the Flask app: configured from ``app.config``, its schema brought up to
date at start-up, a pooled connection given back after each request, and ``flask init-db``."""
from __future__ import annotations

import logging

import click
from flask import Flask
from peewee import InterfaceError, OperationalError

from conversions.store import schema
from conversions.store.database import database

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Configure the store from ``app.config`` and manage connections per request."""
    schema.configure(app.config)
    try:
        schema.create_schema()
    except (OperationalError, InterfaceError) as err:
        # A worker (re)started while the store is down must still boot, or gunicorn stops
        # the whole server: requests answer 503 until it is back; init-db makes the tables.
        log.warning("store unavailable at start-up; schema not checked",
                    extra={"error_type": type(err).__name__})

    # A request takes a pooled connection at its first query (peewee's autoconnect) and gives it
    # back in teardown. An ingestion request makes none itself: its write runs in the group
    # commit, on the leader's connection, so opening one before every request was a pool
    # round trip (about 10 us) for nothing.
    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    @app.cli.command("init-db", short_help="Create or migrate the tables (safe to run again).")
    def init_db_command() -> None:
        """Create the tables, or migrate them to the newest version (safe to run again)."""
        schema.create_schema()
        click.echo(f"database ready (schema version {schema.version()})")
