"""In-process tallies of accepted and rejected events, without a write per request.

Ingestion only increments a counter here; the counts job drains the tallies into the
database on its interval, so error counts cost the request path nothing but a lock.
"""
from __future__ import annotations

import threading
from collections import Counter

ACCEPTED = "accepted"

_lock = threading.Lock()
_counts: Counter[tuple[str | None, str, str]] = Counter()


def accepted(tenant_id: str, source: str, count: int = 1) -> None:
    """Count ``count`` events stored for ``tenant_id`` from ``source``."""
    with _lock:
        _counts[(tenant_id, source, ACCEPTED)] += count


def rejected(tenant_id: str | None, source: str, error: str) -> None:
    """Count one refusal with ``error`` (tenant unknown: None)."""
    with _lock:
        _counts[(tenant_id, source, error)] += 1


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
