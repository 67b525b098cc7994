"""OpenAPI descriptions of the read endpoints: liveness, readiness, health, stats, metrics,
attribution and Prometheus' exposition.

Their views answer plain dicts; these schemas describe those dicts, and schemathesis holds
every live answer to them.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from conversions.core.sources import NAMES, WATCHED
from conversions.web.openapi import admin, errors, json_response, query

Instant = fields.String  # ISO-8601 text in UTC


class SourceState(Schema):
    connected = fields.Boolean(required=True)
    last_event_at = Instant(required=True, allow_none=True)
    fresh = fields.Boolean(required=True)


class Readiness(Schema):
    ready = fields.Boolean(required=True)
    freshness_window_seconds = fields.Integer(required=True)
    sources = fields.Dict(keys=fields.String(validate=validate.OneOf(WATCHED)),
                          values=fields.Nested(SourceState), required=True)
    state = fields.String(required=True, validate=validate.OneOf(
        ["ready", "degraded", "not_ready", "unavailable"]))
    reasons = fields.List(fields.String(), required=True)


class Ingestion(Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["idle", "stale", "receiving"]))
    last_event_at = Instant(required=True, allow_none=True)


class Aggregation(Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["never_run", "failing", "lagging", "ok"]))
    last_run_at = Instant(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)


class Window(Schema):
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    seconds = fields.Integer(required=True)


class Received(Schema):
    """Events received in the window that were not refused, by outcome."""

    accepted = fields.Integer(required=True, metadata={
        "description": "Stored (a postback's approval or reversal included)."})
    duplicate = fields.Integer(required=True, metadata={"description": "Stored already."})
    test = fields.Integer(required=True, metadata={
        "description": "Test events, kept apart with their verdict."})


class Health(Schema):
    ingestion = fields.Nested(Ingestion, required=True)
    aggregation = fields.Nested(Aggregation, required=True)
    received = fields.Nested(Received, required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "Refusals in the window by error code."})
    window = fields.Nested(Window, required=True)


_VALUES = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                      metadata={"description": "Value sums by currency, two decimals."})


class StatsRow(Schema):
    period_start = Instant(required=True)
    source_type = fields.String(required=True)
    events = fields.Integer(required=True, metadata={"description": "Reports received."})
    superseded = fields.Integer(required=True, metadata={
        "description": "Of those, reports another channel's report of the same conversion "
                       "took over (a pixel after or before its server's report): they count "
                       "nowhere."})
    value = _VALUES


class Stats(Schema):
    series = fields.List(fields.Nested(StatsRow), required=True)
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    granularity = fields.String(required=True)


class MetricsRow(Schema):
    period_start = Instant(required=True)
    event_name = fields.String(metadata={"description": "With group_by=event_name."})
    conversions = fields.Integer(required=True)
    value = _VALUES


class Metrics(Schema):
    tenant_id = fields.String(required=True)
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    granularity = fields.String(required=True)
    group_by = fields.String(required=True, allow_none=True)
    source_type = fields.String(required=True, allow_none=True)
    series = fields.List(fields.Nested(MetricsRow), required=True)


class CoverageFigures(Schema):
    server = fields.Integer(required=True, metadata={
        "description": "Conversions an authenticated report (webhook, postback, import) "
                       "reported."})
    browser = fields.Integer(required=True, metadata={
        "description": "Conversions the pixel reported."})
    both = fields.Integer(required=True)
    server_only = fields.Integer(required=True)
    browser_only = fields.Integer(required=True)
    coverage = fields.String(required=True, allow_none=True, metadata={
        "description": "both / server, 4 decimal places; null when server is 0."})
    value_mismatches = fields.Integer(required=True, metadata={
        "description": "Reported by both with different values or currencies."})


class Coverage(Schema):
    from_ = Instant(required=True, data_key="from")
    to = Instant(required=True)
    window_seconds = fields.Integer(required=True, metadata={
        "description": "The tenant's window of receipt within which reports of one "
                       "event_name and event_id are one conversion."})
    event_names = fields.Dict(keys=fields.String(), values=fields.Nested(CoverageFigures),
                              required=True)
    total = fields.Nested(CoverageFigures, required=True)


TENANT = query("tenant_id", "The tenant's UUID.", required=True, format="uuid")
RANGE = [
    query("granularity", "Period length.", enum=["hour", "day"]),
    query("from", "Start (ISO-8601 or Unix seconds), widened to a whole period."),
    query("to", "End (default now), widened to a whole period."),
    query("source_type", "Only this source.", enum=list(NAMES)),
]


class Liveness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class LagBin(Schema):
    from_days = fields.Integer(required=True)
    to_days = fields.Integer(required=True, allow_none=True, metadata={"description": "Open."})
    count = fields.Integer(required=True)


class Lag(Schema):
    """Discovery-to-revenue lag of the goals with an honored first touch, in days."""

    count = fields.Integer(required=True)
    median_days = fields.Float(required=True, allow_none=True, metadata={
        "description": "Within relative_accuracy of the exact median."})
    p90_days = fields.Float(required=True, allow_none=True, metadata={
        "description": "Nearest rank, within relative_accuracy of the exact lag."})
    relative_accuracy = fields.Float(required=True, metadata={
        "description": "The lag sketch's bound on the percentiles' relative error (0.01)."})
    histogram = fields.List(fields.Nested(LagBin), required=True,
                            metadata={"description": "Exact counts."})


class Bucket(Schema):
    events = fields.Integer(required=True)
    revenue = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                          metadata={"description": "Exact sums by currency."})
    lag = fields.Nested(Lag, required=True)


class Attribution(Schema):
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)
    tenant_id = fields.String(required=True)
    events = fields.Integer(required=True)
    buckets = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket), required=True,
                          metadata={"description": "ai_search and unattributed."})
    lag = fields.Nested(Lag, required=True)


def _read(summary: str, parameters: list[dict[str, Any]], ok: dict[str, Any]) -> dict[str, Any]:
    return admin({"summary": summary, "tags": ["figures"], "parameters": parameters,
                  "responses": {"200": ok, **errors(400, 404, 503)}})


def _readiness() -> dict[str, Any]:
    operation = _read("Whether a tenant's sources are connected and fresh.", [TENANT],
                      json_response("Readiness.", Readiness))
    operation["responses"]["503"] = json_response(
        "Storage is unavailable: state 'unavailable'.", Readiness,
        headers={"Retry-After": {"required": True, "schema": {"type": "string"}}})
    return operation


def _metrics() -> dict[str, Any]:
    ok = json_response("Conversions by period.", Metrics)
    ok["content"]["text/csv"] = {"schema": {"type": "string"}}
    return _read("Conversions by period for the optimizer (JSON or CSV).",
                 [TENANT, *RANGE, query("group_by", "Also by this field.", enum=["event_name"]),
                  query("format", "Answer format.", enum=["json", "csv"])], ok)


OPERATIONS: dict[str, dict[str, Any]] = {
    "liveness.healthz": {"get": {
        "summary": "Liveness for load balancers (no auth, no database).",
        "tags": ["operations"],
        "responses": {"200": json_response("Alive.", Liveness)},
    }},
    "health.readiness_view": {"get": _readiness()},
    "health.health_view": {"get": _read(
        "Ingestion and aggregation status, error counts.",
        [{**TENANT, "required": False},
         query("window_seconds", "Error-count window (60 to 2678400).", pattern=r"^\d+$")],
        json_response("Health.", Health))},
    "stats.stats_view": {"get": _read(
        "Reports received by source type and period, how many another channel's report "
        "of the same conversion superseded, and the value of those that count.",
        [TENANT, *RANGE],
        json_response("Stats.", Stats))},
    "stats.metrics_view": {"get": _metrics()},
    "coverage.coverage_view": {"get": _read(
        "Of the conversions the server reported, the share the pixel saw too, by event "
        "name: conversions with an event_id, by the counting report's event time, exact up "
        "to now.",
        [TENANT, query("from", "Start (ISO-8601 or Unix seconds), widened to a whole hour."),
         query("to", "End (default now), widened to a whole hour; at most 31 days after "
                     "from."),
         query("event_name", "Only this event name.")],
        json_response("Coverage.", Coverage))},
    "attribution.attribution_report": {"get": admin({
        "summary": "Revenue of signed goals by first-touch bucket; discovery-to-revenue lag.",
        "tags": ["figures"],
        "parameters": [TENANT, query("from", "Occurred from (ISO-8601 or Unix seconds); "
                                             "widened to the start of its UTC day."),
                       query("to", "Occurred before (default now); widened to the end of its "
                                   "UTC day.")],
        "responses": {"200": json_response("Attribution.", Attribution),
                      **errors(400, 404, 503)},
    })},
    "exposition.scrape": {"get": admin({
        "summary": "Prometheus metrics of every process, merged (docs/deployment.md lists "
                   "the families). OpenMetrics when the Accept header asks for it.",
        "tags": ["operations"],
        "responses": {"200": {"description": "The exposition.", "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}}}}},
    })},
}
