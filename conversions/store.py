"""Writing accepted events: committed before the sender hears 2xx, duplicates stored once."""
from __future__ import annotations

from typing import Any

from peewee import chunked

from conversions import prepared
from conversions.db import database
from conversions.models import Event, WebhookDelivery
from conversions.writer import group_commit


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Store one event; return ``(event id, duplicate)``.

    A row whose ``dedup_key`` the tenant already has for this source is not stored again:
    the unique index decides, so concurrent workers and instances agree. Concurrent writes
    share one commit (``conversions/writer.py``); this returns once its own is committed.
    """
    return group_commit.run(lambda: prepared.insert_event(row))


# Rows per INSERT: well under SQLite's oldest limit of 999 bound parameters a statement.
_CHUNK = 50


def insert_batch(rows: list[dict[str, Any]],
                 delivery: dict[str, Any] | None = None) -> list[tuple[int, bool]] | None:
    """Store a batch in one transaction; return ``(event id, duplicate)`` per row, in order.

    Rows with a ``dedup_key`` the tenant already has, or that repeat an earlier row of the
    batch, are duplicates and point at the stored event. With ``delivery`` (a
    ``WebhookDelivery`` row) the batch is stored only if that delivery is new: when the
    tenant has the message id already, nothing is stored and the answer is None. The unique
    indexes decide both, so concurrent workers and instances agree. Concurrent batches
    share one commit (``conversions/writer.py``); this returns once its own is committed.
    """
    return group_commit.run(lambda: _insert_batch(rows, delivery))


def _insert_batch(rows: list[dict[str, Any]],
                  delivery: dict[str, Any] | None) -> list[tuple[int, bool]] | None:
    with database.atomic():  # a savepoint of the group's transaction: all or nothing
        if delivery is not None and not _record_delivery(delivery):
            return None
        first: dict[str, int] = {}
        keyed: list[dict[str, Any]] = []
        unkeyed: list[int] = []
        for index, row in enumerate(rows):
            key = row.get("dedup_key")
            if key is None:
                unkeyed.append(index)
            elif key not in first:
                first[key] = index
                keyed.append(row)
        # One key order for every writer, so two overlapping batches cannot deadlock.
        keyed.sort(key=lambda row: row["dedup_key"])
        ids: dict[str, int] = {}
        for chunk in chunked(keyed, _CHUNK):
            query = Event.insert_many(chunk).on_conflict_ignore()
            ids.update((r.dedup_key, r.id) for r in query.returning(Event.id, Event.dedup_key))
        new = set(ids)
        if keyed:
            sample = keyed[0]
            missing = [row["dedup_key"] for row in keyed if row["dedup_key"] not in ids]
            for chunk in chunked(missing, _CHUNK * 10):
                ids.update(Event.select(Event.dedup_key, Event.id)
                           .where(Event.tenant == sample["tenant"],
                                  Event.source_type == sample["source_type"],
                                  Event.dedup_key.in_(chunk))
                           .tuples())
        plain: list[int] = []
        for chunk in chunked([rows[i] for i in unkeyed], _CHUNK):
            plain.extend(r.id for r in Event.insert_many(chunk).returning(Event.id))
        # Ids are assigned in VALUES order, whatever order RETURNING lists them in.
        by_index = dict(zip(unkeyed, sorted(plain), strict=True))
    answer = []
    for index, row in enumerate(rows):
        key = row.get("dedup_key")
        if key is None:
            answer.append((by_index[index], False))
        else:
            answer.append((ids[key], not (key in new and first[key] == index)))
    return answer


def _record_delivery(delivery: dict[str, Any]) -> bool:
    """Record a webhook delivery; False when the tenant has that message id within the window.

    A record older than the replay window no longer counts, so it is replaced.
    """
    (WebhookDelivery.delete()
     .where(WebhookDelivery.tenant == delivery["tenant"],
            WebhookDelivery.message_id == delivery["message_id"],
            WebhookDelivery.received_at_ms < delivery["window_start_ms"])
     .execute())
    row = {k: v for k, v in delivery.items() if k != "window_start_ms"}
    inserted = WebhookDelivery.insert(**row).on_conflict_ignore().returning(WebhookDelivery.id)
    return bool(list(inserted.execute()))
