"""``/api/conversions/ingestion/...``: dead letters (list, replay, discard), error taxonomy."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from conversions import clock, failures, figures, params, replay, taxonomy
from conversions.auth import admin_required
from conversions.errors import ApiError
from conversions.models import IngestionFailure

bp = Blueprint("ingestion", __name__, url_prefix="/api/conversions/ingestion")
# Larger ids cannot exist, and would overflow the database's integers: 404 like any unknown one.
MAX_ID = 2**62


def _failure(failure_id: int) -> IngestionFailure:
    failure = IngestionFailure.get_or_none(IngestionFailure.id == failure_id)
    if failure is None:
        raise ApiError(404, "not_found", "No such dead letter.")
    return failure


@bp.get("/failures")
@admin_required
def list_failures() -> ResponseReturnValue:
    """Dead letters, newest first: ``?tenant_id=&reason=&from=&to=&cursor=&limit=``."""
    rows, cursor = failures.page(
        params.tenant_id(required=False), params.text("reason", 64), params.instant_ms("from"),
        params.instant_ms("to"), params.integer("cursor", None, 1, 2**62),
        params.integer("limit", 50, 1, 500) or 50)
    return jsonify(failures=[failures.public(row) for row in rows],
                   next_cursor=None if cursor is None else str(cursor))


@bp.post(f"/failures/<int(max={MAX_ID}):failure_id>/replay")
@admin_required
def replay_failure(failure_id: int) -> ResponseReturnValue:
    """Re-validate with today's rules and store when it passes; idempotent."""
    return jsonify(replay.replay(_failure(failure_id)))


@bp.post(f"/failures/<int(max={MAX_ID}):failure_id>/discard")
@admin_required
def discard_failure(failure_id: int) -> ResponseReturnValue:
    if not failures.discard(failure_id):
        raise ApiError(404, "not_found", "No such dead letter.")
    return jsonify(id=str(failure_id), discarded=True)


@bp.get("/error-taxonomy")
@admin_required
def error_taxonomy() -> ResponseReturnValue:
    """Every error code with its status, meaning, the sender's remedy and recent counts."""
    window = params.seconds("window_seconds", 86400, 60, 31 * 86400)
    now = clock.now_ms()
    refused = figures.outcome_counts(params.tenant_id(required=False), now - window * 1000,
                                     now + 1)
    kept = failures.counts(now - window * 1000)
    return jsonify(window_seconds=window, errors=[
        {"error": code, "status": entry.status, "description": entry.description,
         "action": entry.action, "dead_letter": entry.dead_letter,
         "count": refused.get(code, 0),
         "dead_letters": kept.get(code, 0) if entry.dead_letter else None}
        for code, entry in sorted(taxonomy.ERRORS.items())])
