"""Bounded tables: each insert drops the oldest rows beyond a cap, in the same transaction."""
from __future__ import annotations

from typing import Any

from peewee import Model

from conversions.store.database import database


def insert_capped(model: type[Model], row: dict[str, Any], cap: int,
                  oldest_ms: int | None = None) -> int:
    """Insert ``row``; keep only the newest ``cap`` rows of its tenant and source, and none
    received before ``oldest_ms``. A flood of inserts can never grow the table beyond that."""
    with database.atomic():
        new_id = model.insert(**row).execute()
        scope = (model.tenant == row["tenant"]) & (model.source_type == row["source_type"])
        boundary = (model.select(model.id).where(scope).order_by(model.id.desc())
                    .offset(max(cap, 1)).limit(1).scalar())
        if boundary is not None:
            model.delete().where(scope & (model.id <= boundary)).execute()
        if oldest_ms is not None:
            model.delete().where(model.received_at_ms < oldest_ms).execute()
    return int(new_id)
