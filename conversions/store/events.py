"""Writing accepted events: committed before the sender hears 2xx, duplicates stored once."""
from __future__ import annotations

from typing import Any

from conversions.store import cross_channel, prepared, settings
from conversions.store.database import database, is_postgres
from conversions.store.event_keys import EventKey
from conversions.store.models import Event
from conversions.store.writer import link


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Store one event; return ``(event id, duplicate)``.

    A row whose ``dedup_key`` the tenant already has for this source is not stored again:
    the unique index decides, so concurrent workers and instances agree. Concurrent writes
    share one commit (``conversions/store/writer/``); this returns
    once its own is committed.
    """
    return link.run(_insert_event, row, default_window_ms())


def insert_batch(rows: list[dict[str, Any]],
                 delivery: dict[str, Any] | None = None) -> list[tuple[int, bool]] | None:
    """Store a batch in one transaction; return ``(event id, duplicate)`` per row, in order.

    Rows with a ``dedup_key`` the tenant already has, or that repeat an earlier row of the
    batch, are duplicates and point at the stored event. With ``delivery`` (a
    ``WebhookDelivery`` row) the batch is stored only if that delivery is new: when the
    tenant has the message id already, nothing is stored and the answer is None. The unique
    indexes decide both, so concurrent workers and instances agree. Concurrent batches
    share one commit (``conversions/store/writer/``); this returns
    once its own is committed.
    """
    return link.run(_insert_batch, rows, delivery, default_window_ms())


def default_window_ms() -> int:
    """The default window of cross-channel deduplication (``DEDUP_WINDOW_SECONDS``), for the
    writer."""
    return settings.current().dedup_window_seconds * 1000


def _insert_event(row: dict[str, Any], window_ms: int) -> tuple[int, bool]:
    # No savepoint of its own: a write that fails rolls its group's transaction back, and
    # the group commit runs each of its writes again alone (``store.writer.group_commit.commit``).
    result = prepared.insert_event(row)
    cross_channel.settle([row], [result], window_ms)
    return result


def _insert_batch(rows: list[dict[str, Any]], delivery: dict[str, Any] | None,
                  window_ms: int) -> list[tuple[int, bool]] | None:
    with database.atomic():  # a savepoint of the group's transaction: all or nothing
        if delivery is not None and not prepared.record_delivery(delivery):
            return None
        results = prepared.insert_events(rows)
        cross_channel.settle(rows, results, window_ms)
        return results


def insert_new(rows: list[dict[str, Any]]) -> int:
    """Store in one transaction the rows whose dedup key their tenant and source lack (every
    row with the same fields); returns how many were new. Committed when this returns."""
    return link.run(_insert_new, rows, default_window_ms())


def _insert_new(rows: list[dict[str, Any]], window_ms: int) -> int:
    count, stored = prepared.insert_new_events(rows)
    cross_channel.settle([row for row, _ in stored], [(event_id, False) for _, event_id in stored],
                         window_ms)
    return count


def stored_keys(tenant_id: str, source_type: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the tenant has already for ``source_type``."""
    table = EventKey if is_postgres() else Event
    found: set[str] = set()
    for start in range(0, len(keys), prepared.CHUNK * 10):
        found.update(key for (key,) in table.select(table.dedup_key).where(
            table.tenant == tenant_id, table.source_type == source_type,
            table.dedup_key.in_(keys[start:start + prepared.CHUNK * 10])).tuples())
    return found
