"""``GET /api/conversions/coverage``: of the conversions the server reported, the share the
pixel saw too (the loss to ad blockers and closed tabs), by event name, from the coverage
rollup every write keeps exact (``store.cross_channel``)."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields
from peewee import fn

from conversions.core import rules
from conversions.core.periods import iso
from conversions.store.cross_channel import COVERAGE_FIELDS
from conversions.store.models import HourlyCoverage
from conversions.tenants import settings
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import IsoInstant, json_answer

bp = Blueprint("coverage", __name__)


def figures(server: int, browser: int, both: int, value_mismatches: int) -> dict[str, Any]:
    """One event name's (or the total's) counts and ``coverage``: both / server as a decimal
    string of 4 places, None when the server reported none."""
    share = None if server == 0 else str(
        (Decimal(both) / Decimal(server)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))
    return {"server": server, "browser": browser, "both": both,
            "server_only": server - both, "browser_only": browser - both,
            "coverage": share, "value_mismatches": value_mismatches}


def coverage(tenant_id: str, start_ms: int, end_ms: int,
             event_name: str | None = None) -> dict[str, Any]:
    """Conversions with an ``event_id`` by the counting report's event time in
    ``[start_ms, end_ms)``, by event name and in total."""
    sums = [fn.SUM(getattr(HourlyCoverage, field)) for field in COVERAGE_FIELDS]
    query = (HourlyCoverage.select(HourlyCoverage.event_name, *sums)
             .where(HourlyCoverage.tenant == tenant_id,
                    HourlyCoverage.hour_start_ms >= start_ms,
                    HourlyCoverage.hour_start_ms < end_ms)
             .group_by(HourlyCoverage.event_name).order_by(HourlyCoverage.event_name))
    if event_name is not None:
        query = query.where(HourlyCoverage.event_name == event_name)
    names: dict[str, dict[str, Any]] = {}
    total = [0] * len(COVERAGE_FIELDS)
    for name, *counts in query.tuples():
        counts = [int(count or 0) for count in counts]
        if not any(counts):
            continue
        names[name] = figures(*counts)
        total = [a + b for a, b in zip(total, counts, strict=True)]
    window = settings.get(tenant_id, "dedup_window_seconds")
    return {"from": iso(start_ms), "to": iso(end_ms), "window_seconds": int(window),
            "event_names": names, "total": figures(*total)}


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
    from_ = IsoInstant(required=True, data_key="from")
    to = IsoInstant(required=True)
    window_seconds = fields.Integer(required=True, metadata={
        "description": "The tenant's window of receipt within which reports of one "
                       "event_name and event_id are one conversion."})
    event_names = fields.Dict(keys=fields.String(), values=fields.Nested(CoverageFigures),
                              required=True)
    total = fields.Nested(CoverageFigures, required=True)


def _event_name(name: str) -> None:
    """An event name as the ingestion rules accept one."""
    if not rules.EVENT_NAME.fullmatch(name):
        raise ValidationError("must be 1 to 64 letters, digits, _ . : or -")


class CoverageQuery(params.Query):
    tenant_id = params.tenant_id()
    from_ = params.Instant("Start (ISO-8601 or Unix seconds), widened to a whole hour.",
                           data_key="from")
    to = params.Instant("End (default now), widened to a whole hour; at most 31 days after "
                        "from.")
    event_name = params.Text("Only this event name.", 64, validate=_event_name)


@bp.get("/api/conversions/coverage")
@openapi.operation(
    "get", query=CoverageQuery, tags=["figures"],
    summary="Of the conversions the server reported, the share the pixel saw too, by event "
            "name: conversions with an event_id, by the counting report's event time, exact "
            "up to now.",
    responses={"200": json_answer("Coverage.", Coverage), **openapi.errors(400, 404, 503)})
@admin_required
def coverage_view() -> ResponseReturnValue:
    query = params.load(CoverageQuery)
    start, end = params.period_range(query, "hour")
    return jsonify(coverage(query["tenant_id"], start, end, query.get("event_name")))
