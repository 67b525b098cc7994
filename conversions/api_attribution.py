"""OpenAPI description of ``/api/conversions/attribution`` and the ``/lp.js`` snippet."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from conversions.api_monitoring import TENANT, query
from conversions.api_paths import admin, errors, json_response


class LagBin(Schema):
    from_days = fields.Integer(required=True)
    to_days = fields.Integer(required=True, allow_none=True, metadata={"description": "Open."})
    count = fields.Integer(required=True)


class Lag(Schema):
    """Discovery-to-revenue lag of the goals with an honored first touch, in days."""

    count = fields.Integer(required=True)
    median_days = fields.Float(required=True, allow_none=True)
    p90_days = fields.Float(required=True, allow_none=True)
    histogram = fields.List(fields.Nested(LagBin), required=True)


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


def attribution_paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/conversions/attribution": {"get": admin({
            "summary": "Revenue of signed goals by first-touch bucket; discovery-to-revenue lag.",
            "tags": ["figures"],
            "parameters": [TENANT, query("from", "Occurred from (ISO-8601 or Unix seconds)."),
                           query("to", "Occurred before (default now).")],
            "responses": {"200": json_response("Attribution.", Attribution),
                          **errors(400, 404, 503)},
        })},
        "/lp.js": {"get": {
            "summary": "The browser snippet: lp.firstTouch() and lp.track().",
            "tags": ["browser"],
            "responses": {
                "200": {"description": "The script (cacheable, with a strong ETag).",
                        "content": {"text/javascript": {"schema": {"type": "string"}}}},
                "304": {"description": "Not modified (If-None-Match matched the ETag)."},
            },
        }},
    }
