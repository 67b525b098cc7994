"""The database: made from ``DATABASE_URL`` at start-up, pooled; connections for work outside
a request. ``schema.configure`` binds it."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse import db_url

from conversions.store import private_files

database = DatabaseProxy()

_POOLED = {"sqlite": "sqlite+pool", "postgres": "postgresql+pool", "postgresql": "postgresql+pool"}


# DURABILITY -> (SQLite synchronous, PostgreSQL synchronous_commit)
DURABILITY = {"normal": ("NORMAL", "off"), "full": ("FULL", "on")}


def connect(url: str, *, pool_size: int = 8, synchronous: str = "NORMAL",
            busy_timeout_ms: int = 5000, durability: str = "",
            connect_timeout: int = 5) -> Database:
    """Make the database for ``url``: pooled, and for SQLite in WAL mode with its pragmas.

    ``durability`` ("normal" or "full"), when given, beats ``synchronous``. A PostgreSQL
    server that takes the connection but never answers (stopped) fails it after
    ``connect_timeout`` seconds (libpq's least is 2), where libpq would wait for ever.
    """
    if durability and durability.lower() not in DURABILITY:
        raise ValueError(f"DURABILITY must be one of {', '.join(DURABILITY)}, not {durability}")
    sqlite_mode, postgres_mode = DURABILITY.get(durability.lower(), (synchronous, None))
    scheme = urlsplit(url).scheme
    url = url.replace(scheme, _POOLED.get(scheme, scheme), 1)
    options: dict = {"max_connections": pool_size, "stale_timeout": 300, "timeout": 10}
    if scheme == "sqlite":
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            # The file holds the signing secrets: owner-only, and SQLite gives its WAL and
            # shared-memory files the database's own mode.
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            private_files.keep_private(path)
            for companion in ("-wal", "-shm"):
                private_files.tighten(path + companion)
        options["pragmas"] = {
            # First, so the WAL pragma (which needs a lock) waits this long, not sqlite3's 5 s.
            "busy_timeout": busy_timeout_ms,
            "journal_mode": "wal",
            "synchronous": sqlite_mode,
            "foreign_keys": 1,
        }
        options["check_same_thread"] = False
        # A write transaction takes the write lock at BEGIN, where the busy timeout applies.
        # A deferred one that read first fails at once with "database is locked" when another
        # process committed in between (a WAL snapshot cannot be upgraded), busy timeout or not.
        options["lock_type"] = "IMMEDIATE"
    elif not scheme.endswith("+pool") and scheme not in _POOLED:
        options = {}
    if scheme.startswith("postgres"):
        options["connect_timeout"] = connect_timeout
        if postgres_mode:
            options["options"] = f"-c synchronous_commit={postgres_mode}"
    return db_url.connect(url, **options)


def from_config(config: Mapping[str, Any], pool_size: int | None = None) -> Database:
    """``connect`` with the app's settings (``DATABASE_URL`` and the store's own), pooling
    ``pool_size`` connections (default ``DB_POOL_SIZE``)."""
    return connect(
        str(config["DATABASE_URL"]),
        pool_size=int(config["DB_POOL_SIZE"] if pool_size is None else pool_size),
        synchronous=str(config["SQLITE_SYNCHRONOUS"]),
        busy_timeout_ms=int(config["SQLITE_BUSY_TIMEOUT_MS"]),
        durability=str(config.get("DURABILITY") or ""),
    )


def sqlite_file(db: Database | str) -> str:
    """The file of a SQLite database (made, or named by its URL); "" for PostgreSQL, or a
    database in memory or opened by URI."""
    if isinstance(db, str):
        path = db.split(":///", 1)[1] if db.startswith("sqlite") and ":///" in db else ""
    else:
        path = db.database if isinstance(db, SqliteDatabase) else ""
    return "" if path in ("", ":memory:") or path.startswith("file:") else path


def is_postgres() -> bool:
    """Whether the configured store is PostgreSQL (else SQLite)."""
    return isinstance(database.obj, PostgresqlDatabase)


@contextmanager
def connection() -> Iterator[None]:
    """A connection for work outside a request; closed after only if it was opened here."""
    opened = database.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened:
            database.close()
