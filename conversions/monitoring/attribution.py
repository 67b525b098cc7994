"""``GET /api/conversions/attribution``: revenue by first-touch bucket and the lag to revenue."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from conversions.core import clock
from conversions.core.periods import DAY_MS, ceil
from conversions.rollups import attribution
from conversions.web import params
from conversions.web.auth import admin_required

bp = Blueprint("attribution", __name__)


@bp.get("/api/conversions/attribution")
@admin_required
def attribution_report() -> ResponseReturnValue:
    """Signed goals that occurred in the whole days covering ``[from, to)``; default: the
    ATTRIBUTION_DEFAULT_DAYS days ending with today."""
    tenant_id = params.tenant_id()
    end_ms = params.instant_ms("to")
    end_ms = ceil(clock.now_ms() if end_ms is None else end_ms, "day")
    start_ms = params.instant_ms("from")
    if start_ms is None:
        start_ms = end_ms - int(current_app.config["ATTRIBUTION_DEFAULT_DAYS"]) * DAY_MS
    if start_ms >= end_ms:
        raise params.invalid("from", "must be before to")
    return jsonify(attribution.report(tenant_id, start_ms, end_ms))
