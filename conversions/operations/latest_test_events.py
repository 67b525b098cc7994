"""``GET /api/conversions/test-events``: the latest test events with their verdicts
(``ingest.flagged_tests`` says what a test event is)."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from conversions.store.models import IngestionTestEvent
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import json_answer

bp = Blueprint("test_events", __name__)


class TestEvent(Schema):
    id = fields.String(required=True)
    tenant_id = fields.String(required=True)
    source = fields.String(required=True)
    test_event_code = fields.String(required=True)
    received_at_ms = fields.Integer(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(["accepted", "rejected"]))
    error = fields.String(required=True, allow_none=True)
    detail = fields.Raw(required=True, allow_none=True)
    payload = fields.Raw(required=True)


class TestEvents(Schema):
    test_events = fields.List(fields.Nested(TestEvent), required=True)


class TestEventsQuery(params.Query):
    limit = params.WholeNumber("1 to 500 (50).", 1, 500)
    tenant_id = params.tenant_id("Only this tenant's (UUID).", required=False)
    test_event_code = params.Text("Only this code.", 64)


@bp.get("/api/conversions/test-events")
@openapi.operation(
    "get", query=TestEventsQuery, tags=["operations"],
    summary="The latest test events with their verdicts.",
    responses={"200": json_answer("Test events.", TestEvents),
               **openapi.errors(400, 404, 503)})
@admin_required
def latest() -> ResponseReturnValue:
    """The latest test events, newest first, with their verdicts."""
    found = params.load(TestEventsQuery)
    query = (IngestionTestEvent.select().order_by(IngestionTestEvent.id.desc())
             .limit(found.get("limit", 50)))
    if "tenant_id" in found:
        query = query.where(IngestionTestEvent.tenant == found["tenant_id"])
    if "test_event_code" in found:
        query = query.where(IngestionTestEvent.test_code == found["test_event_code"])
    return jsonify(test_events=[{
        "id": str(row.id), "tenant_id": row.tenant_id, "source": row.source_type,
        "test_event_code": row.test_code, "received_at_ms": row.received_at_ms,
        "verdict": row.verdict, "error": row.error,
        "detail": json.loads(row.detail) if row.detail else None,
        "payload": json.loads(row.payload),
    } for row in query])
