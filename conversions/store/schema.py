"""The store bound to the app: the database made, the schema brought up to date, a connection
per request that uses one, and ``flask init-db``."""
from __future__ import annotations

import logging

import click
from flask import Flask
from peewee import InterfaceError, OperationalError

from conversions.store import migrations, writer_link
from conversions.store.database import connection, database, from_config, sqlite_file
from conversions.store.models import MODELS
from conversions.store.writer import deadlines

log = logging.getLogger(__name__)


def create_schema() -> list[int]:
    """Create the tables or migrate them to the newest version; returns versions applied."""
    with connection():
        return migrations.upgrade(database.obj, MODELS)


def init_app(app: Flask) -> None:
    """Bind the models to the configured database and manage connections per request."""
    database.initialize(from_config(app.config))
    # gunicorn's master names the writer process's socket (store.writer_supervisor).
    socket_path = str(app.config.get("SQLITE_WRITER_SOCKET") or "")
    writer_socket = socket_path if sqlite_file(database.obj) else ""
    writer_link.configure(writer_socket)
    # Threads waiting on writes are few only where they wait on the writer process: elsewhere
    # (PostgreSQL, a worker's own group commit) a slow commit is no stopped process.
    deadlines.configure(float(app.config["WRITE_TIMEOUT_SECONDS"]),
                        int(app.config["WRITE_WAITERS"]) if writer_socket else 0)
    try:
        create_schema()
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
        create_schema()
        with connection():
            version = migrations.current_version(database.obj)
        click.echo(f"database ready (schema version {version})")
