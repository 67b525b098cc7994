"""Test events as stored: each flagged request's verdict in its own bounded table, never in
``Event`` and never in the tallies."""
from __future__ import annotations

from typing import Any

from conversions.core import clock
from conversions.store import dead_letters, retention, settings
from conversions.store.database import connection
from conversions.store.models import IngestionTestEvent


def keep(tenant_id: str, source: str, test_code: str, payload: Any,
         error: str | None = None, detail: Any = None) -> int:
    """Keep a test event's verdict (``error`` None: accepted); the newest few per tenant, each
    with the start of its payload (``TEST_EVENTS_MAX_PAYLOAD`` bytes) and its capped detail."""
    limits = settings.current()
    text, _ = dead_letters.stored_form(payload, limits.test_events_max_payload)
    row = {
        "tenant": tenant_id, "source_type": source, "test_code": test_code,
        "received_at_ms": clock.now_ms(), "verdict": "rejected" if error else "accepted",
        "error": error, "payload": text,
        "detail": dead_letters.detail_text(detail),
    }
    with connection():
        return retention.insert_capped(IngestionTestEvent, row, limits.test_events_max_rows)
