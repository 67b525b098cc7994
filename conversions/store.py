"""Writing accepted events: committed before the sender hears 2xx, duplicates stored once."""
from __future__ import annotations

from typing import Any

from conversions import prepared
from conversions.writer import group_commit


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Store one event; return ``(event id, duplicate)``.

    A row whose ``dedup_key`` the tenant already has for this source is not stored again:
    the unique index decides, so concurrent workers and instances agree. Concurrent writes
    share one commit (``conversions/writer.py``); this returns once its own is committed.
    """
    return group_commit.run(lambda: prepared.insert_event(row))
