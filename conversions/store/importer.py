"""Importing an export (``conversions.store.export``): new rows stored, present rows checked."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from peewee import AutoField, Model, fn

from conversions.store import generations, migrations, prepared
from conversions.store.database import database, is_postgres
from conversions.store.export import (
    BATCH,
    BY_NAME,
    FORMAT,
    FORMAT_VERSION,
    TABLES,
    TransferError,
    as_json,
    from_json,
)
from conversions.store.models import Event, SigningKey, TenantSetting, WebhookDelivery

# Tables whose other unique keys (idempotency key, webhook-id, setting name) may legitimately
# hold a row already under another id: that row is the same fact, stored once.
SAME_FACT_ELSEWHERE = {Event, WebhookDelivery, TenantSetting}
# Fields that may change after a row is stored (rotation, a new setting value, the prune job);
# a row present here that differs only in these is the same row, kept as it is here.
MUTABLE = {SigningKey: {"expires_at_ms"}, TenantSetting: {"value", "updated_at_ms"},
           Event: {"dedup_key"}}


def _lines(source: Iterable[str], schema_version: int
           ) -> Iterator[tuple[type[Model], dict[str, Any]]]:
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise TransferError(f"line {number} is not JSON") from None
        if number == 1:
            if not isinstance(item, dict) or item.get("format") != FORMAT:
                raise TransferError("not an export of this service (no header line)")
            if item.get("version") != FORMAT_VERSION:
                raise TransferError(f"export format {item.get('version')} is not supported")
            if (item.get("schema_version") or 0) > schema_version:
                raise TransferError("the export comes from a newer schema version "
                                    f"({item['schema_version']}); upgrade this service first")
            continue
        model = BY_NAME.get(item.get("table")) if isinstance(item, dict) else None
        if model is None or not isinstance(item.get("row"), dict):
            raise TransferError(f"line {number} names no known table and row")
        yield model, item["row"]


def _comparable(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    mutable = MUTABLE.get(model, set())
    return {k: v for k, v in json.loads(json.dumps(row, default=str)).items() if k not in mutable}


def _store(model: type[Model], rows: list[dict[str, Any]],
           counts: dict[str, dict[str, int]]) -> None:
    """Insert the rows that are new; check that those present already are the same."""
    key = model._meta.primary_key
    with database.atomic():
        if model is Event and is_postgres():  # each key kept once by its own table
            inserted = prepared.insert_with_ids([from_json(model, dict(row)) for row in rows])
        else:
            inserted = {getattr(r, key.name) for r in model.insert_many(
                [from_json(model, dict(row)) for row in rows]).on_conflict_ignore()
                .returning(key).execute()}
        left = {row[key.name]: row for row in rows if row[key.name] not in inserted}
        present = {row[key.name]: _comparable(model, as_json(model, row))
                   for row in model.select().where(key.in_(list(left))).dicts()} if left else {}
        for ident, row in left.items():
            if ident in present and present[ident] != _comparable(model, row):
                raise TransferError(f"{model._meta.table_name} {ident} exists here with other "
                                    "values; import into a new database")
            if ident not in present and model not in SAME_FACT_ELSEWHERE:
                raise TransferError(f"{model._meta.table_name} {ident} clashes with another "
                                    "row here (same domain or buyer id?); import into a new "
                                    "database")
    counts[model._meta.table_name]["stored"] += len(inserted)
    counts[model._meta.table_name]["already_present"] += len(left)


def import_(source: Iterable[str]) -> tuple[dict[str, dict[str, int]], int | None]:
    """Store every row of an export; returns, by table, how many were stored and were
    present, and the earliest receive time of its events (None: it has none)."""
    counts = {m._meta.table_name: {"stored": 0, "already_present": 0} for m in TABLES}
    pending: list[dict[str, Any]] = []
    current: type[Model] | None = None
    received: list[int] = []  # receive times of the file's events

    def flush() -> None:
        if pending and current is not None:
            _store(current, pending, counts)
            if current is Event:
                received.extend(row["received_at_ms"] for row in pending)

    for model, row in _lines(source, migrations.current_version(database.obj) or 0):
        if model is not current or len(pending) >= BATCH:
            flush()
            pending, current = [], model
        pending.append(row)
    flush()
    _restart_sequences()
    with database.atomic():  # keys may have come or changed: cached keyrings are stale
        generations.bump(generations.SIGNING_KEYS)
    return counts, min(received, default=None)


def _restart_sequences() -> None:
    """On PostgreSQL, make new ids follow the imported ones (SQLite does so by itself)."""
    if not is_postgres():
        return
    for model in TABLES:
        key = model._meta.primary_key
        if isinstance(key, AutoField):
            sequence = fn.pg_get_serial_sequence(f'"{model._meta.table_name}"', key.column_name)
            model.select(fn.setval(sequence, fn.COALESCE(fn.MAX(key), 1),
                                   fn.MAX(key).is_null(False))).scalar()
