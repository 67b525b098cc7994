"""Writing accepted events: committed before the sender hears 2xx, duplicates stored once."""
from __future__ import annotations

from typing import Any

from conversions.db import database
from conversions.models import Event


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Store one event; return ``(event id, duplicate)``.

    A row whose ``dedup_key`` the tenant already has for this source is not stored again:
    the unique index decides, so concurrent workers and instances agree.
    """
    with database.atomic():
        inserted = list(Event.insert(**row).on_conflict_ignore().returning(Event.id).execute())
        if inserted:
            return inserted[0].id, False
        existing = (Event.select(Event.id)
                    .where(Event.tenant == row["tenant"], Event.source_type == row["source_type"],
                           Event.dedup_key == row["dedup_key"])
                    .scalar())
        return existing, True
