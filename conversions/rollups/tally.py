"""In-process tallies of events received, by outcome, without a write per request.

Ingestion only increments a counter here; the counts job drains the tallies into the
database on its interval, so the counts cost the request path nothing but a lock. The same
calls count Prometheus' ``conversions_events_received_total``, so it and health agree.
"""
from __future__ import annotations

import threading
from collections import Counter

from conversions.observability import instruments
from conversions.rollups import tenant_series

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
TEST = "test"
# The outcomes that are no refusal; every other outcome is a refusal's error code.
RECEIVED = (ACCEPTED, DUPLICATE, TEST)

_lock = threading.Lock()
_counts: Counter[tuple[str | None, str, str]] = Counter()


def accepted(tenant_id: str, source: str, count: int = 1) -> None:
    """Count ``count`` events stored for ``tenant_id`` from ``source``."""
    _add(tenant_id, source, ACCEPTED, count)


def duplicate(tenant_id: str, source: str, count: int = 1) -> None:
    """Count ``count`` events that were stored already (sent again)."""
    _add(tenant_id, source, DUPLICATE, count)


def flagged(tenant_id: str, source: str) -> None:
    """Count one test event kept with its verdict (``ingest.flagged_tests``)."""
    _add(tenant_id, source, TEST, 1)


def rejected(tenant_id: str | None, source: str, error: str) -> None:
    """Count one refusal with ``error`` (tenant unknown: None)."""
    _add(tenant_id, source, error, 1)


def _add(tenant_id: str | None, source: str, outcome: str, count: int) -> None:
    if not count:
        return
    with _lock:
        _counts[(tenant_id, source, outcome)] += count
    instruments.event(source, outcome, count, tenant_series.label(tenant_id))


def drain() -> Counter[tuple[str | None, str, str]]:
    """Take every count gathered since the last drain: ``(tenant, source, outcome) -> n``."""
    global _counts
    with _lock:
        taken, _counts = _counts, Counter()
    return taken


def restore(counts: Counter[tuple[str | None, str, str]]) -> None:
    """Put back counts that could not be saved, so none is lost to a failed flush."""
    with _lock:
        _counts.update(counts)
