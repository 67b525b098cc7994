"""``GET /metrics``: Prometheus' exposition of every process's instruments, merged, and of
figures read from the store at scrape time (the jobs' state is in the tables, not in any
one process), in the text format or OpenMetrics when asked; guarded like the read endpoints,
and also answered unguarded on a port of its own when ``METRICS_BIND`` sets one."""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, request
from peewee import InterfaceError, OperationalError, fn
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

import conversions
from conversions.core.sources import WATCHED
from conversions.observability import instruments
from conversions.store import runs
from conversions.store.database import connection
from conversions.store.models import (
    AGGREGATE_CURSOR,
    Event,
    IngestionFailure,
    JobCursor,
    JobRun,
    SourceState,
)
from conversions.web import openapi
from conversions.web.auth import admin_required

bp = Blueprint("exposition", __name__)
# Multiprocess mode, as prometheus_client chose it when imported (with this module).
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
AGGREGATE_JOB = "aggregate"


class StoreFigures(Collector):
    """The aggregation's lag and runs, dead letters pending and stale sources, from the
    store; ``conversions_store_up`` 0 when it cannot be read."""

    def collect(self) -> Iterator[Metric]:
        try:
            with connection():
                figures = list(self._figures())
        except (OperationalError, InterfaceError):
            figures = []
        yield GaugeMetricFamily("conversions_store_up",
                                "Whether the store answered this scrape's reads.",
                                value=1 if figures else 0)
        yield from figures

    def _figures(self) -> Iterator[Metric]:
        newest = Event.select(fn.MAX(Event.received_at_ms)).scalar()
        cursor = JobCursor.get_or_none(JobCursor.name == AGGREGATE_CURSOR)
        behind_ms = max(0, (newest or 0) - (cursor.position_ms if cursor else 0)) if newest else 0
        yield GaugeMetricFamily(
            "conversions_aggregation_lag_seconds",
            "How far the rollups' cursor is behind the newest event received.",
            value=behind_ms / 1000)
        success = runs.last_success(AGGREGATE_JOB)
        yield GaugeMetricFamily(
            "conversions_aggregation_last_success_timestamp_seconds",
            "When the last successful aggregation run finished (Unix time; 0: never).",
            value=success.finished_at_ms / 1000 if success else 0)
        latest = runs.latest(AGGREGATE_JOB, finished=True)
        yield GaugeMetricFamily(
            "conversions_aggregation_last_run_duration_seconds",
            "How long the last finished aggregation run took.",
            value=(latest.finished_at_ms - latest.started_at_ms) / 1000 if latest else 0)
        failing = JobRun.select().where(JobRun.job == AGGREGATE_JOB, JobRun.error.is_null(False))
        if success is not None:
            failing = failing.where(JobRun.started_at_ms > success.started_at_ms)
        yield GaugeMetricFamily(
            "conversions_aggregation_consecutive_failures",
            "Aggregation runs that failed since the last successful one.", value=failing.count())
        yield GaugeMetricFamily(
            "conversions_dead_letters_pending", "Dead letters kept and not replayed.",
            value=IngestionFailure.select().where(
                IngestionFailure.replayed_at_ms.is_null()).count())
        stale = dict(SourceState.select(SourceState.source_type, fn.COUNT(SourceState.id))
                     .where(SourceState.stale_since_ms.is_null(False))
                     .group_by(SourceState.source_type).tuples())
        family = GaugeMetricFamily("conversions_sources_stale",
                                   "Tenants' sources stale at the last staleness check.",
                                   labels=["source"])
        for source in WATCHED:
            family.add_metric([source], stale.get(source, 0))
        yield family


class Build(Collector):
    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily("conversions_build", "The running version and Python.",
                               value={"version": conversions.__version__,
                                      "python": platform.python_version()})


class Instruments(Collector):
    """The instruments of every process (gunicorn), or of this one alone. Merged, a family
    no process has a sample of yet is still described, as it is in one process."""

    def collect(self) -> Iterator[Metric]:
        if not MULTIPROCESS:
            yield from REGISTRY.collect()
            return
        seen = set()
        for metric in multiprocess.MultiProcessCollector(None).collect():
            seen.add(metric.name)
            yield metric
        for instrument in instruments.FAMILIES:
            yield from (metric for metric in instrument.describe() if metric.name not in seen)


def registry() -> CollectorRegistry:
    """What one scrape exposes: in multiprocess mode the process figures (CPU, memory, open
    files) are those of the worker answering; alone, the default registry has them already."""
    scraped = CollectorRegistry(auto_describe=False)
    for collector in (Instruments(), StoreFigures(), Build()):
        scraped.register(collector)
    if MULTIPROCESS:
        ProcessCollector(registry=scraped)
        PlatformCollector(registry=scraped)
    return scraped


@bp.get("/metrics")
@openapi.operation(
    "get", tags=["operations"],
    summary="Prometheus metrics of every process, merged (docs/deployment.md lists the "
            "families). OpenMetrics when the Accept header asks for it.",
    responses={"200": {"description": "The exposition.", "content": {
        "text/plain": {"schema": {"type": "string"}},
        "application/openmetrics-text": {"schema": {"type": "string"}}}}})
@admin_required
def scrape() -> Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry()), content_type=content_type)


def metrics_port(bind: object) -> int | None:
    """The port of ``METRICS_BIND`` (``host:port``; None when unset); ValueError when it
    names none."""
    text = str(bind or "").strip()
    if not text:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"METRICS_BIND must be host:port, such as 127.0.0.1:9100, not {text!r}")
    return int(port)


class SeparatePort:
    """Answer requests that came in on the metrics port with the exposition alone: ``GET
    /metrics`` without the admin guard (whoever can reach the port may read it: bind it where
    only Prometheus can), any other path 404. Requests on other ports go to ``app``.

    The port is the one the connection came in on, read from gunicorn's socket: on a Unix
    socket gunicorn takes ``SERVER_PORT`` from the Host header, which a client chooses.
    Served otherwise (the test client, ``flask run``), ``SERVER_PORT``.
    """

    def __init__(self, app: Any, port: int, exposition: Any) -> None:
        self.app = app
        self.port = str(port)
        self.exposition = exposition

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if _local_port(environ) != self.port:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if environ.get("PATH_INFO") == "/metrics":
            return self.exposition(environ, start_response)  # type: ignore[no-any-return]
        body = json.dumps({"error": "not_found",
                           "message": "Only /metrics is served on this port."}).encode()
        start_response("404 Not Found", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
        return [body]


def _local_port(environ: dict[str, Any]) -> str:
    connection = environ.get("gunicorn.socket")
    if connection is None:
        return str(environ.get("SERVER_PORT", ""))
    try:
        address = connection.getsockname()
    except OSError:
        return ""
    return str(address[1]) if isinstance(address, tuple) else ""  # a Unix socket's is a path


def init_app(app: Flask) -> None:
    """Serve the metrics port, when ``METRICS_BIND`` sets one (call it last: outermost)."""
    port = metrics_port(app.config["METRICS_BIND"])
    if port is not None:
        app.wsgi_app = SeparatePort(  # type: ignore[method-assign]
            app.wsgi_app, port, make_wsgi_app(registry()))
