"""``GET /api/conversions/test-events``: the latest test events with their verdicts
(``ingest.flagged_tests`` says what a test event is)."""
from __future__ import annotations

import json

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from conversions.ingest.flagged_tests import PARAM
from conversions.store.models import IngestionTestEvent
from conversions.web import params
from conversions.web.auth import admin_required

bp = Blueprint("test_events", __name__)


@bp.get("/api/conversions/test-events")
@admin_required
def latest() -> ResponseReturnValue:
    """The latest test events, newest first, with their verdicts."""
    limit = params.integer("limit", 50, 1, 500)
    query = IngestionTestEvent.select().order_by(IngestionTestEvent.id.desc()).limit(limit)
    tenant_id = params.tenant_id(required=False)
    if tenant_id:
        query = query.where(IngestionTestEvent.tenant == tenant_id)
    test_code = params.text(PARAM, 64)
    if test_code:
        query = query.where(IngestionTestEvent.test_code == test_code)
    return jsonify(test_events=[{
        "id": str(row.id), "tenant_id": row.tenant_id, "source": row.source_type,
        "test_event_code": row.test_code, "received_at_ms": row.received_at_ms,
        "verdict": row.verdict, "error": row.error,
        "detail": json.loads(row.detail) if row.detail else None,
        "payload": json.loads(row.payload),
    } for row in query])
