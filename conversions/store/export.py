"""Moving data between databases (SQLite to PostgreSQL) as JSON lines: the export side.

The first line is a header; each other line is ``{"table": name, "row": {field: value}}``.
Rows keep their ids, so importing the same file again stores nothing twice (``importing``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from peewee import BlobField, Model

from conversions.core import clock
from conversions.store import migrations
from conversions.store.database import database, is_postgres
from conversions.store.models import Event, SigningKey, Tenant, TenantSetting, WebhookDelivery

FORMAT = "conversions-export"
FORMAT_VERSION = 1
# In dependency order. Aggregates are rebuilt from events by the jobs; run records and
# in-process tallies describe the old deployment and are not moved.
TABLES: list[type[Model]] = [Tenant, SigningKey, TenantSetting, Event, WebhookDelivery]
BY_NAME = {model._meta.table_name: model for model in TABLES}
BATCH = 500


class TransferError(ValueError):
    """An export file that cannot be imported here, with the reason."""


def as_json(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON can hold it: blobs as hex."""
    for name, field in model._meta.fields.items():
        if isinstance(field, BlobField) and row.get(name) is not None:
            row[name] = bytes(row[name]).hex()
    return row


def from_json(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row from its JSON form: blobs from hex."""
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
        yield from (as_json(model, row) for row in batch)
        if len(batch) < BATCH:
            return
        last = batch[-1][key.name]


def export(out: IO[str], tenant_id: str | None = None) -> dict[str, int]:
    """Write the header and every row to ``out``; returns the row count of each table."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "exported_at_ms": clock.now_ms(),
              "schema_version": migrations.current_version(database.obj), "tenant": tenant_id}
    out.write(json.dumps(header) + "\n")
    counts = {}
    # One read transaction, so the file is one consistent snapshot even while events arrive.
    snapshot = "REPEATABLE READ" if is_postgres() else "DEFERRED"
    with database.atomic(snapshot):
        for model in TABLES:
            counts[model._meta.table_name] = 0
            for row in _rows(model, tenant_id):
                out.write(json.dumps({"table": model._meta.table_name, "row": row},
                                     separators=(",", ":"), default=str) + "\n")
                counts[model._meta.table_name] += 1
    return counts
