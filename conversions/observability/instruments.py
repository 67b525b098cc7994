"""Every Prometheus instrument of the service (``prometheus_client``), one definition each.

Under gunicorn each process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set in
``config/gunicorn.conf.py``) and a scrape merges them (``monitoring/exposition.py``). Label
values come from closed sets only: never an event, token or address, and a tenant only as one
of the few domains ``METRICS_TENANTS`` names (``rollups/tenant_series.py``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# Off (``METRICS_ENABLED=0``, ``enable(False)``): nothing is recorded on the request path, to
# measure what the instruments cost (bench/run.py runs both).
_enabled = True

# Seconds: the pixel answers in about a millisecond, a slow commit takes a second.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "conversions_http_requests", "Requests answered, by endpoint, method and status class.",
    ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram(
    "conversions_http_request_duration_seconds", "Time to answer a request, by endpoint.",
    ["endpoint"], buckets=LATENCY_BUCKETS)
EVENTS = Counter(
    "conversions_events_received",
    "Events received, by source and outcome (accepted, duplicate, test, or the error code "
    "of a refusal); the counts health reads.", ["source", "outcome"])
TENANT_EVENTS = Counter(
    "conversions_tenant_events_received",
    "Events received by the tenants METRICS_TENANTS names (every other one as \"other\"), "
    "by source and outcome; none when it names none.", ["tenant", "source", "outcome"])
COMMIT_SECONDS = Histogram(
    "conversions_store_commit_duration_seconds",
    "Time of one group commit (the transaction of a group of writes).", buckets=LATENCY_BUCKETS)
COMMIT_GROUP_SIZE = Histogram(
    "conversions_store_commit_group_size", "Writes committed by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
WRITE_QUEUE = Gauge(
    "conversions_store_write_queue_depth",
    "Writes waiting behind the commit under way, summed over live processes.",
    multiprocess_mode="livesum")
WRITER_RESTARTS = Counter(
    "conversions_store_writer_restarts", "Times the SQLite writer process exited and was "
    "started again.")
STORE_UNAVAILABLE = Counter(
    "conversions_store_unavailable", "Requests answered 503 because the store failed, by "
    "cause (the driver's error class).", ["cause"])
RATE_LIMITED = Counter(
    "conversions_rate_limit_refusals", "Requests refused with 429, by limit scope.", ["scope"])
SIGNATURE_FAILURES = Counter(
    "conversions_signature_failures", "Signed requests refused by the HMAC middleware, by "
    "reason (its error code).", ["reason"])
BODY_DEADLINE = Counter(
    "conversions_body_deadline_refusals", "Requests refused because the body did not arrive "
    "in time or no reader was free, by error code.", ["error"])

# Every family above, described in a scrape even before any process has a sample of it.
FAMILIES = (REQUESTS, REQUEST_SECONDS, EVENTS, TENANT_EVENTS, COMMIT_SECONDS, COMMIT_GROUP_SIZE,
            WRITE_QUEUE, WRITER_RESTARTS, STORE_UNAVAILABLE, RATE_LIMITED, SIGNATURE_FAILURES,
            BODY_DEADLINE)

STORE_CAUSES = ("OperationalError", "InterfaceError")
# The body deadline's refusals (`wsgi_hmac.BodyDeadline`); the HMAC middleware's are the rest.
BODY_DEADLINE_ERRORS = frozenset({"server_busy", "request_timeout"})


# Each labelled child looked up once: ``labels()`` checks and locks on every call, which cost
# a request more than the increment itself (label values are bounded, so is this).
_children: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, kept."""
    key = (metric, *values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def enable(on: bool) -> None:
    """Record (True, the default) or not."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def event(source: str, outcome: str, count: int = 1, tenant: str | None = None) -> None:
    """Count ``count`` events of ``source`` with ``outcome`` (called by ``rollups.tally``),
    and under ``tenant`` too unless it is None."""
    if _enabled:
        child(EVENTS, source, outcome).inc(count)
        if tenant is not None:
            child(TENANT_EVENTS, tenant, source, outcome).inc(count)


def store_unavailable(cause: str) -> None:
    if _enabled:
        STORE_UNAVAILABLE.labels(cause if cause in STORE_CAUSES else "other").inc()


def rate_limited(scope: str) -> None:
    if _enabled:
        RATE_LIMITED.labels(scope).inc()


def refused_by_middleware(error: str) -> None:
    """A refusal of the HMAC or body deadline middleware, by its error code."""
    if not _enabled:
        return
    if error in BODY_DEADLINE_ERRORS:
        BODY_DEADLINE.labels(error).inc()
    else:
        SIGNATURE_FAILURES.labels(error).inc()


def timed_commit(commit: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
    """Decorate ``store.writer.group_commit.commit``: each group's size and commit time."""

    @wraps(commit)
    def timed(group: list[Any]) -> None:
        started = time.perf_counter()
        try:
            commit(group)
        finally:
            if _enabled:
                COMMIT_GROUP_SIZE.observe(len(group))
                COMMIT_SECONDS.observe(time.perf_counter() - started)

    return timed


_depth = [0]  # the last depth set: a quiet queue (0 again and again) costs no write


def queued(depth: int) -> None:
    if _enabled and depth != _depth[0]:
        _depth[0] = depth
        WRITE_QUEUE.set(depth)


def writer_restarted() -> None:
    WRITER_RESTARTS.inc()
