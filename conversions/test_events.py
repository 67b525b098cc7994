"""Test events: flagged requests, verified and validated like real ones, kept apart.

A request is a test when it carries ``?test_event_code=`` or an ``X-Conversions-Test``
header; a webhook (whose body is signed) or a pixel may also put ``test_event_code`` in its
body, a goal may not (its canonical form does not sign it). Its verdict is kept in its own
table, never in ``Event`` and never in the tallies, so it cannot change stats, health,
readiness or attribution. Only requests of a known tenant are kept (verified, or for the
unsigned pixel a registered buyer id); junk is only counted.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from peewee import PeeweeException

from conversions import clock, failures, params, retention
from conversions.auth import admin_required
from conversions.db import connection
from conversions.errors import ApiError
from conversions.models import IngestionTestEvent

log = logging.getLogger(__name__)
bp = Blueprint("test_events", __name__)

PARAM = "test_event_code"
HEADER = "X-Conversions-Test"
_CODE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def code(body: Any = None) -> str | None:
    """The request's test code as sent (query, header, then ``body``'s field), or None."""
    in_body = body.get(PARAM) if isinstance(body, dict) else None
    text = request.args.get(PARAM) or request.headers.get(HEADER) or in_body or ""
    return str(text).strip() or None


def valid_code(body: Any = None) -> str | None:
    """The request's test code, refusing a malformed one."""
    text = code(body)
    if text is not None and not _CODE.fullmatch(text):
        raise ApiError(400, "invalid_parameter", "test_event_code is malformed.",
                       fields={PARAM: ["must be 1 to 64 letters, digits or _ . : -"]})
    return text


def well_formed(text: str | None) -> bool:
    return text is not None and _CODE.fullmatch(text) is not None


def store(tenant_id: str, source: str, test_code: str, payload: Any,
          error: str | None = None, detail: Any = None) -> int:
    """Keep a test event's verdict (``error`` None: accepted); the newest few per tenant."""
    text, _ = failures.stored_form(payload, int(current_app.config["FAILURES_MAX_PAYLOAD"]))
    row = {
        "tenant": tenant_id, "source_type": source, "test_code": test_code,
        "received_at_ms": clock.now_ms(), "verdict": "rejected" if error else "accepted",
        "error": error, "payload": text,
        "detail": failures.detail_text(detail),
    }
    with connection():
        return retention.insert_capped(IngestionTestEvent, row,
                                       int(current_app.config["TEST_EVENTS_MAX_ROWS"]))


def store_rejection(tenant_id: str, source: str, test_code: str, payload: Any, error: str,
                    detail: Any = None) -> None:
    """Keep a rejected test's verdict; never raises (the sender's answer stands)."""
    try:
        store(tenant_id, source, test_code, payload, error, detail)
    except (PeeweeException, ValueError) as err:
        log.warning("test event not stored", extra={"error_type": type(err).__name__})


def accepted(tenant_id: str, source: str, test_code: str, payload: Any) -> ResponseReturnValue:
    """Keep an accepted test event and answer the sender."""
    test_id = store(tenant_id, source, test_code, payload)
    return jsonify(test_event_id=str(test_id), test_event_code=test_code,
                   verdict="accepted"), 202


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
