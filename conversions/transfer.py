"""Moving data between databases (SQLite to PostgreSQL) as JSON lines, without loss.

The first line is a header; each other line is ``{"table": name, "row": {field: value}}``.
Rows keep their ids, so importing the same file again stores nothing twice.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from peewee import AutoField, BlobField, Model, PostgresqlDatabase, fn

from conversions import clock, migrations
from conversions.db import database
from conversions.models import Event, SigningKey, Tenant, TenantSetting, WebhookDelivery

FORMAT = "conversions-export"
FORMAT_VERSION = 1
# In dependency order. Aggregates are rebuilt from events by the jobs; run records and
# in-process tallies describe the old deployment and are not moved.
TABLES: list[type[Model]] = [Tenant, SigningKey, TenantSetting, Event, WebhookDelivery]
BY_NAME = {model._meta.table_name: model for model in TABLES}
# Tables whose other unique keys (idempotency key, webhook-id, setting name) may legitimately
# hold a row already under another id: that row is the same fact, stored once.
SAME_FACT_ELSEWHERE = {Event, WebhookDelivery, TenantSetting}
BATCH = 500


class TransferError(ValueError):
    """An export file that cannot be imported here, with the reason."""


def _plain(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON can hold it: blobs as hex."""
    for name, field in model._meta.fields.items():
        if isinstance(field, BlobField) and row.get(name) is not None:
            row[name] = bytes(row[name]).hex()
    return row


def _stored(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    for name, field in model._meta.fields.items():
        if isinstance(field, BlobField) and row.get(name) is not None:
            row[name] = bytes.fromhex(row[name])
    return row


def _rows(model: type[Model], tenant_id: str | None) -> Iterator[dict[str, Any]]:
    """Every row of ``model`` (of one tenant if given), by primary key, in batches."""
    key = model._meta.primary_key
    query = model.select().order_by(key).limit(BATCH)
    if tenant_id is not None:
        query = query.where((Tenant.id if model is Tenant else model.tenant) == tenant_id)
    last = None
    while True:
        batch = list((query if last is None else query.where(key > last)).dicts())
        yield from (_plain(model, row) for row in batch)
        if len(batch) < BATCH:
            return
        last = batch[-1][key.name]


def export(out: IO[str], tenant_id: str | None = None) -> dict[str, int]:
    """Write the header and every row to ``out``; returns the row count of each table."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "exported_at_ms": clock.now_ms(),
              "schema_version": migrations.current_version(database.obj), "tenant": tenant_id}
    out.write(json.dumps(header) + "\n")
    counts = {}
    with database.atomic():  # one read transaction: on SQLite (WAL), one consistent snapshot
        for model in TABLES:
            counts[model._meta.table_name] = 0
            for row in _rows(model, tenant_id):
                out.write(json.dumps({"table": model._meta.table_name, "row": row},
                                     separators=(",", ":"), default=str) + "\n")
                counts[model._meta.table_name] += 1
    return counts


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


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=str))


def _store(model: type[Model], rows: list[dict[str, Any]],
           counts: dict[str, dict[str, int]]) -> None:
    """Insert the rows that are new; check that those present already are the same."""
    key = model._meta.primary_key
    stored_rows = [_stored(model, dict(row)) for row in rows]
    with database.atomic():
        inserted = {getattr(r, key.name) for r in model.insert_many(stored_rows)
                    .on_conflict_ignore().returning(key).execute()}
    left = {row[key.name]: row for row in rows if row[key.name] not in inserted}
    present = {row[key.name]: _comparable(_plain(model, row))
               for row in model.select().where(key.in_(list(left))).dicts()} if left else {}
    for ident, row in left.items():
        if ident in present and present[ident] != row:
            raise TransferError(f"{model._meta.table_name} {ident} exists here with other "
                                "values; import into a new database")
        if ident not in present and model not in SAME_FACT_ELSEWHERE:
            raise TransferError(f"{model._meta.table_name} {ident} clashes with another row "
                                "here (same domain or buyer id?); import into a new database")
    counts[model._meta.table_name]["stored"] += len(inserted)
    counts[model._meta.table_name]["already_present"] += len(left)


def import_(source: Iterable[str]) -> dict[str, dict[str, int]]:
    """Store every row of an export; returns, by table, how many were stored and were present."""
    counts = {m._meta.table_name: {"stored": 0, "already_present": 0} for m in TABLES}
    pending: list[dict[str, Any]] = []
    current: type[Model] | None = None
    for model, row in _lines(source, migrations.current_version(database.obj) or 0):
        if model is not current or len(pending) >= BATCH:
            if pending and current is not None:
                _store(current, pending, counts)
            pending, current = [], model
        pending.append(row)
    if pending and current is not None:
        _store(current, pending, counts)
    _restart_sequences()
    return counts


def _restart_sequences() -> None:
    """On PostgreSQL, make new ids follow the imported ones (SQLite does so by itself)."""
    if not isinstance(database.obj, PostgresqlDatabase):
        return
    for model in TABLES:
        key = model._meta.primary_key
        if isinstance(key, AutoField):
            sequence = fn.pg_get_serial_sequence(f'"{model._meta.table_name}"', key.column_name)
            model.select(fn.setval(sequence, fn.COALESCE(fn.MAX(key), 1),
                                   fn.MAX(key).is_null(False))).scalar()
