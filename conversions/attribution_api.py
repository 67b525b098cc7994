"""``GET /api/conversions/attribution``: revenue by first-touch bucket and the lag to revenue."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from conversions import attribution, clock, rules
from conversions.auth import admin_required
from conversions.errors import ApiError
from conversions.models import Tenant

bp = Blueprint("attribution", __name__)


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", parameter=name)


def tenant_param() -> str:
    text = request.args.get("tenant_id", "").strip()
    if not text:
        raise bad_parameter("tenant_id", "is required")
    try:
        tenant_id = str(uuid.UUID(text))
    except ValueError:
        raise bad_parameter("tenant_id", "must be a tenant UUID") from None
    if not Tenant.select().where(Tenant.id == tenant_id).exists():
        raise ApiError(404, "unknown_tenant", "No tenant has this id.", parameter="tenant_id")
    return tenant_id


def instant_param(name: str, default_ms: int) -> int:
    """``name`` as Unix ms: ISO-8601 (naive means UTC) or Unix seconds; absent: the default."""
    text = request.args.get(name, "").strip()
    if not text:
        return default_ms
    try:
        return int(rules.parse_instant(text).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise bad_parameter(name, "must be ISO-8601 or Unix seconds") from None


def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds").replace(
        "+00:00", "Z")


@bp.get("/api/conversions/attribution")
@admin_required
def attribution_report() -> ResponseReturnValue:
    """Signed goals that occurred in ``[from, to)``; default: the last ATTRIBUTION_DEFAULT_DAYS."""
    tenant_id = tenant_param()
    end_ms = instant_param("to", clock.now_ms())
    default_days = int(current_app.config["ATTRIBUTION_DEFAULT_DAYS"])
    start_ms = instant_param("from", end_ms - default_days * attribution.DAY_MS)
    if start_ms >= end_ms:
        raise bad_parameter("from", "must be before to")
    figures = attribution.report(tenant_id, start_ms, end_ms)
    return jsonify({"from": iso(start_ms), "to": iso(end_ms), **figures})
