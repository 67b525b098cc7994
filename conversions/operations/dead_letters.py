"""``/api/conversions/ingestion/failures``: dead letters (list, replay, discard)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from conversions.operations import replay
from conversions.store.dead_letters import discard, page, public
from conversions.store.models import IngestionFailure
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.errors import ApiError
from conversions.web.openapi import json_answer

bp = Blueprint("dead_letters", __name__, url_prefix="/api/conversions/ingestion/failures")
# Larger ids cannot exist, and would overflow the database's integers: 404 like any unknown one.
MAX_ID = 2**62


def _failure(failure_id: int) -> IngestionFailure:
    failure = IngestionFailure.get_or_none(IngestionFailure.id == failure_id)
    if failure is None:
        raise ApiError(404, "not_found", "No such dead letter.")
    return failure


class DeadLetter(Schema):
    id = fields.String(required=True)
    tenant_id = fields.String(required=True, allow_none=True)
    source = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "The error code."})
    status = fields.Integer(required=True)
    received_at_ms = fields.Integer(required=True)
    payload = fields.Raw(required=True, metadata={"description": "As received, PII masked."})
    detail = fields.Raw(required=True, allow_none=True)
    replayable = fields.Boolean(required=True)
    replayed_at_ms = fields.Integer(required=True, allow_none=True)
    event_id = fields.String(required=True, allow_none=True)


class DeadLetters(Schema):
    failures = fields.List(fields.Nested(DeadLetter), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class FailuresQuery(params.Query):
    tenant_id = params.tenant_id("Only this tenant's (UUID).", required=False)
    reason = params.Text("Only this error code.", 64)
    from_ = params.Instant("Received from (ISO-8601 or Unix seconds).", data_key="from")
    to = params.Instant("Received before.")
    cursor = params.WholeNumber("next_cursor of a page.", 1, MAX_ID)
    limit = params.WholeNumber("1 to 500 (50).", 1, 500)


@bp.get("")
@openapi.operation(
    "get", query=FailuresQuery, tags=["operations"],
    summary="Dead letters (refused events kept for replay), newest first.",
    responses={"200": json_answer("A page of dead letters.", DeadLetters),
               **openapi.errors(400, 404, 503)})
@admin_required
def list_failures() -> ResponseReturnValue:
    """Dead letters, newest first: ``?tenant_id=&reason=&from=&to=&cursor=&limit=``."""
    query = params.load(FailuresQuery)
    rows, cursor = page(query.get("tenant_id"), query.get("reason"), query.get("from_"),
                        query.get("to"), query.get("cursor"), query.get("limit", 50))
    return jsonify(failures=[public(row) for row in rows],
                   next_cursor=None if cursor is None else str(cursor))


class Replayed(Schema):
    id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(
        ["stored", "duplicate", "already_replayed", "still_rejected"]))
    event_id = fields.String(allow_none=True)
    error = fields.String()
    fields_ = fields.Raw(data_key="fields", allow_none=True)


FAILURE_ID = {"in": "path", "name": "failure_id", "required": True,
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


@bp.post(f"/<int(max={MAX_ID}):failure_id>/replay")
@openapi.operation(
    "post", parameters=[FAILURE_ID], tags=["operations"],
    summary="Re-validate a dead letter with today's rules and store it when it passes.",
    responses={"200": json_answer("The outcome.", Replayed),
               **openapi.errors(400, 404, 409, 413, 503)})
@admin_required
def replay_failure(failure_id: int) -> ResponseReturnValue:
    """Re-validate with today's rules and store when it passes; idempotent."""
    return jsonify(replay.replay(_failure(failure_id)))


class Discarded(Schema):
    id = fields.String(required=True)
    discarded = fields.Boolean(required=True)


@bp.post(f"/<int(max={MAX_ID}):failure_id>/discard")
@openapi.operation(
    "post", parameters=[FAILURE_ID], tags=["operations"],
    summary="Forget a dead letter.",
    responses={"200": json_answer("Gone.", Discarded), **openapi.errors(400, 404, 413, 503)})
@admin_required
def discard_failure(failure_id: int) -> ResponseReturnValue:
    if not discard(failure_id):
        raise ApiError(404, "not_found", "No such dead letter.")
    return jsonify(id=str(failure_id), discarded=True)
