"""``/api/conversions/ingestion/failures``: dead letters (list, replay, discard)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from conversions.operations import replay
from conversions.store.dead_letters import discard, page, public
from conversions.store.models import IngestionFailure
from conversions.web import params
from conversions.web.auth import admin_required
from conversions.web.errors import ApiError

bp = Blueprint("dead_letters", __name__, url_prefix="/api/conversions/ingestion/failures")
# Larger ids cannot exist, and would overflow the database's integers: 404 like any unknown one.
MAX_ID = 2**62


def _failure(failure_id: int) -> IngestionFailure:
    failure = IngestionFailure.get_or_none(IngestionFailure.id == failure_id)
    if failure is None:
        raise ApiError(404, "not_found", "No such dead letter.")
    return failure


@bp.get("")
@admin_required
def list_failures() -> ResponseReturnValue:
    """Dead letters, newest first: ``?tenant_id=&reason=&from=&to=&cursor=&limit=``."""
    rows, cursor = page(
        params.tenant_id(required=False), params.text("reason", 64), params.instant_ms("from"),
        params.instant_ms("to"), params.integer("cursor", None, 1, MAX_ID),
        params.integer("limit", 50, 1, 500) or 50)
    return jsonify(failures=[public(row) for row in rows],
                   next_cursor=None if cursor is None else str(cursor))


@bp.post(f"/<int(max={MAX_ID}):failure_id>/replay")
@admin_required
def replay_failure(failure_id: int) -> ResponseReturnValue:
    """Re-validate with today's rules and store when it passes; idempotent."""
    return jsonify(replay.replay(_failure(failure_id)))


@bp.post(f"/<int(max={MAX_ID}):failure_id>/discard")
@admin_required
def discard_failure(failure_id: int) -> ResponseReturnValue:
    if not discard(failure_id):
        raise ApiError(404, "not_found", "No such dead letter.")
    return jsonify(id=str(failure_id), discarded=True)
