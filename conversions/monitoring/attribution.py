"""``GET /api/conversions/attribution``: revenue by first-touch bucket and the lag to revenue."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import clock
from conversions.core.periods import DAY_MS, ceil
from conversions.rollups import attribution
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import json_answer

bp = Blueprint("attribution", __name__)


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


class AttributionQuery(params.Query):
    tenant_id = params.tenant_id()
    from_ = params.Instant("Occurred from (ISO-8601 or Unix seconds); widened to the start of "
                           "its UTC day.", data_key="from")
    to = params.Instant("Occurred before (default now); widened to the end of its UTC day.")


@bp.get("/api/conversions/attribution")
@openapi.operation(
    "get", query=AttributionQuery, tags=["figures"],
    summary="Revenue of signed goals by first-touch bucket; discovery-to-revenue lag.",
    responses={"200": json_answer("Attribution.", Attribution),
               **openapi.errors(400, 404, 503)})
@admin_required
def attribution_report() -> ResponseReturnValue:
    """Signed goals that occurred in the whole days covering ``[from, to)``; default: the
    ATTRIBUTION_DEFAULT_DAYS days ending with today."""
    query = params.load(AttributionQuery)
    end_ms = query.get("to")
    end_ms = ceil(clock.now_ms() if end_ms is None else end_ms, "day")
    start_ms = query.get("from_")
    if start_ms is None:
        start_ms = end_ms - int(current_app.config["ATTRIBUTION_DEFAULT_DAYS"]) * DAY_MS
    if start_ms >= end_ms:
        raise params.invalid("from", "must be before to")
    return jsonify(attribution.report(query["tenant_id"], start_ms, end_ms))
