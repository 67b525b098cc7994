"""``GET /api/conversions/ingestion/error-taxonomy``: every error code the service answers,
with its meaning, the sender's remedy and recent counts (``core.taxonomy`` is the data)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import clock, taxonomy
from conversions.rollups import figures
from conversions.store.dead_letters import counts
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import json_answer

bp = Blueprint("taxonomy", __name__)


class ErrorCode(Schema):
    error = fields.String(required=True)
    status = fields.Integer(required=True)
    description = fields.String(required=True)
    action = fields.String(required=True)
    dead_letter = fields.Boolean(required=True)
    count = fields.Integer(required=True)
    dead_letters = fields.Integer(required=True, allow_none=True)


class Taxonomy(Schema):
    window_seconds = fields.Integer(required=True)
    errors = fields.List(fields.Nested(ErrorCode), required=True)


class TaxonomyQuery(params.Query):
    window_seconds = params.seconds("Count window (60 to 2678400).", 60, 31 * 86400)
    tenant_id = params.tenant_id("Only this tenant's (UUID).", required=False)


@bp.get("/api/conversions/ingestion/error-taxonomy")
@openapi.operation(
    "get", query=TaxonomyQuery, tags=["operations"],
    summary="Every error code: status, meaning, the sender's remedy, recent counts.",
    responses={"200": json_answer("The taxonomy.", Taxonomy), **openapi.errors(400, 404, 503)})
@admin_required
def error_taxonomy() -> ResponseReturnValue:
    """Every error code with its status, meaning, the sender's remedy and recent counts."""
    query = params.load(TaxonomyQuery)
    window = query.get("window_seconds", 86400)
    now = clock.now_ms()
    refused = figures.outcome_counts(query.get("tenant_id"), now - window * 1000, now + 1)
    kept = counts(now - window * 1000)
    return jsonify(window_seconds=window, errors=[
        {"error": code, "status": entry.status, "description": entry.description,
         "action": entry.action, "dead_letter": entry.dead_letter,
         "count": refused.get(code, 0),
         "dead_letters": kept.get(code, 0) if entry.dead_letter else None}
        for code, entry in sorted(taxonomy.ERRORS.items())])
