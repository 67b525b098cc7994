"""``GET /api/conversions/ingestion/error-taxonomy``: every error code the service answers,
with its meaning, the sender's remedy and recent counts (``core.taxonomy`` is the data)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from conversions.core import clock, taxonomy
from conversions.rollups import figures
from conversions.store.dead_letters import counts
from conversions.web import params
from conversions.web.auth import admin_required

bp = Blueprint("taxonomy", __name__)


@bp.get("/api/conversions/ingestion/error-taxonomy")
@admin_required
def error_taxonomy() -> ResponseReturnValue:
    """Every error code with its status, meaning, the sender's remedy and recent counts."""
    window = params.seconds("window_seconds", 86400, 60, 31 * 86400)
    now = clock.now_ms()
    refused = figures.outcome_counts(params.tenant_id(required=False), now - window * 1000,
                                     now + 1)
    kept = counts(now - window * 1000)
    return jsonify(window_seconds=window, errors=[
        {"error": code, "status": entry.status, "description": entry.description,
         "action": entry.action, "dead_letter": entry.dead_letter,
         "count": refused.get(code, 0),
         "dead_letters": kept.get(code, 0) if entry.dead_letter else None}
        for code, entry in sorted(taxonomy.ERRORS.items())])
