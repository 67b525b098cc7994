"""The store bound to a configuration (``configure``: the database, the settings its modules
read, where event writes go and how long they wait) and the schema brought up to date
(``create_schema``); ``web/store_binding.py`` does both for the Flask app."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conversions.store import migrations, settings
from conversions.store.database import connection, database, from_config, sqlite_file
from conversions.store.models import MODELS
from conversions.store.writer import link
from conversions.store.writer.group_commit import deadlines


def configure(config: Mapping[str, Any]) -> None:
    """Bind the models to the database ``config`` names and give the store its settings."""
    database.initialize(from_config(config))
    settings.configure(settings.Settings.of(config))
    # gunicorn's master names the writer process's socket (store.writer.supervisor).
    socket_path = str(config.get("SQLITE_WRITER_SOCKET") or "")
    writer_socket = socket_path if sqlite_file(database.obj) else ""
    link.configure(writer_socket)
    # Threads waiting on writes are few only where they wait on the writer process: elsewhere
    # (PostgreSQL, a worker's own group commit) a slow commit is no stopped process.
    deadlines.configure(float(config["WRITE_TIMEOUT_SECONDS"]),
                        int(config["WRITE_WAITERS"]) if writer_socket else 0)


def create_schema() -> list[int]:
    """Create the tables or migrate them to the newest version; returns versions applied."""
    with connection():
        return migrations.upgrade(database.obj, MODELS)


def version() -> int:
    """The schema version the database has."""
    with connection():
        return migrations.current_version(database.obj)
