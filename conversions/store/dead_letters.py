"""Dead letters: authenticated events refused by a rule or a storage fault, kept for replay.

Only events whose tenant and signature were verified are kept: junk is counted, never
stored. Payloads are kept with personal data masked and never with a secret, a signature
or a header; the table is bounded per tenant and source, and by age (``retention``).
"""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from peewee import PeeweeException, fn

from conversions.core import budget, canonical, clock, rules
from conversions.store import retention, settings
from conversions.store.database import connection
from conversions.store.models import IngestionFailure

log = logging.getLogger(__name__)

# A refusal's ``fields`` are held to budget.MAX_FIELDS_BYTES already; masking may lengthen them.
MAX_DETAIL_BYTES = 2 * budget.MAX_FIELDS_BYTES


def storable_text(text: str) -> str:
    """``text`` with lone surrogates (valid JSON escapes, not storable text) as "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def detail_text(detail: Any) -> str | None:
    """Where and why an event was refused, as stored: PII masked, storable, at most
    ``MAX_DETAIL_BYTES``."""
    if not detail:
        return None
    return budget.capped_text(storable_text(canonical.json_text(rules.mask_pii(detail))),
                              MAX_DETAIL_BYTES)[0]


def stored_form(payload: Any, limit: int) -> tuple[str, bool]:
    """``payload`` as JSON with PII masked, cut to ``limit`` UTF-8 bytes; and whether it is
    still exactly what was sent (so it can be replayed)."""
    try:
        masked = rules.mask_pii(payload)
        text = canonical.json_text(masked)
    except RecursionError:  # nested deeper than masking can walk: noted, never replayable
        return canonical.json_text({"truncated": "nested too deeply to keep"}), False
    storable, whole = budget.capped_text(storable_text(text), limit)
    return storable, whole and storable == text and masked == payload


def keep(tenant_id: str, source: str, reason: str, status: int, payload: Any,
         detail: Any = None, delivery_id: str | None = None) -> int | None:
    """Keep a dead letter; returns its id. Never raises: when the store itself is down the
    sender's answer stands and the refusal is only counted (and logged here)."""
    limits = settings.current()
    text, intact = stored_form(payload, limits.failures_max_payload)
    now = clock.now_ms()
    row = {
        "tenant": tenant_id, "source_type": source, "reason": reason, "status": status,
        "received_at_ms": now, "payload": text, "replayable": intact,
        "delivery_id": delivery_id[:255] if delivery_id else None,
        "detail": detail_text(detail),
    }
    oldest = now - retention_ms()
    try:
        with connection():
            return retention.insert_capped(IngestionFailure, row, limits.failures_max_rows,
                                           oldest)
    except (PeeweeException, ValueError) as err:  # the store is down, or refuses the text
        log.warning("dead letter not stored", extra={
            "tenant_id": tenant_id, "source": source, "reason": reason,
            "error_type": type(err).__name__})
        return None


def retention_ms() -> int:
    return settings.current().failures_max_age_days * 86_400_000


def prune_expired(now_ms: int) -> int:
    """Drop dead letters past their retention (also done on each write); how many."""
    return int(IngestionFailure.delete()
               .where(IngestionFailure.received_at_ms < now_ms - retention_ms()).execute())


def public(failure: IngestionFailure) -> dict[str, Any]:
    """A dead letter as the API shows it."""
    return {
        "id": str(failure.id),
        "tenant_id": failure.tenant_id,
        "source": failure.source_type,
        "reason": failure.reason,
        "status": failure.status,
        "received_at_ms": failure.received_at_ms,
        "payload": json.loads(failure.payload),
        "detail": json.loads(failure.detail) if failure.detail else None,
        "replayable": failure.replayable,
        "replayed_at_ms": failure.replayed_at_ms,
        "event_id": None if failure.event_id is None else str(failure.event_id),
    }


def payload_of(failure: IngestionFailure) -> Any:
    """The stored payload with numbers exact, as the validation rules expect them."""
    return json.loads(failure.payload, parse_float=Decimal)


def page(tenant_id: str | None, reason: str | None, from_ms: int | None, to_ms: int | None,
         cursor: int | None, limit: int) -> tuple[list[IngestionFailure], int | None]:
    """Newest first; ``cursor`` is the last id of the previous page. Returns the rows and the
    next cursor (None at the end): at most ``limit`` rows, and no more than
    ``FAILURES_PAGE_MAX_BYTES`` of payloads and details (at least one row). Rows older than
    the retention are never shown."""
    oldest = clock.now_ms() - retention_ms()
    query = IngestionFailure.select().where(IngestionFailure.received_at_ms >= oldest)
    if tenant_id:
        query = query.where(IngestionFailure.tenant == tenant_id)
    if reason:
        query = query.where(IngestionFailure.reason == reason)
    if from_ms is not None:
        query = query.where(IngestionFailure.received_at_ms >= from_ms)
    if to_ms is not None:
        query = query.where(IngestionFailure.received_at_ms < to_ms)
    if cursor is not None:
        query = query.where(IngestionFailure.id < cursor)
    budget_left = settings.current().failures_page_max_bytes
    rows: list[IngestionFailure] = []
    for row in query.order_by(IngestionFailure.id.desc()).limit(limit + 1).iterator():
        budget_left -= len(row.payload.encode()) + len((row.detail or "").encode())
        if len(rows) == limit or (rows and budget_left < 0):
            return rows, rows[-1].id
        rows.append(row)
    return rows, None


def discard(failure_id: int) -> bool:
    """Delete a dead letter; whether there was one."""
    return bool(IngestionFailure.delete().where(IngestionFailure.id == failure_id).execute())


def counts(since_ms: int) -> dict[str, int]:
    """Dead letters kept since ``since_ms``, by reason."""
    rows = (IngestionFailure.select(IngestionFailure.reason, fn.COUNT(IngestionFailure.id))
            .where(IngestionFailure.received_at_ms >= since_ms)
            .group_by(IngestionFailure.reason).tuples())
    return dict(rows)
