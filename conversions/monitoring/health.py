"""``GET /api/conversions/readiness`` and ``/health``: is a tenant set up and receiving, and
is the service keeping up. The plain functions return the response bodies, for other views."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate
from peewee import InterfaceError, OperationalError

from conversions.core import clock
from conversions.core.periods import iso
from conversions.core.sources import WATCHED
from conversions.monitoring import freshness
from conversions.observability import instruments
from conversions.rollups import figures
from conversions.store import runs
from conversions.store.models import Tenant
from conversions.tenants import settings
from conversions.web import errors, openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import IsoInstant, json_answer

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def readiness(tenant_id: str) -> dict[str, Any]:
    """Whether the tenant's events arrive: ready when a source is connected and fresh."""
    states = freshness.sources(tenant_id, clock.now_ms())
    connected = [s for s in states.values() if s.connected]
    fresh = [s for s in connected if s.fresh]
    reasons = [f"{s.source_type}: no event received for over {s.window_seconds} seconds "
               f"(last at {iso(s.last_event_at_ms)}, stale since {iso(s.stale_since_ms)})"
               for s in connected if not s.fresh]
    if not connected:
        reasons.insert(0, "no source has delivered an event yet: send a pixel event, "
                          "a signed webhook, a signed goal or a postback")
    elif not fresh:
        reasons.extend(f"{s}: not connected (no event received yet)"
                       for s, state in states.items() if not state.connected)
    state = "not_ready" if not fresh else "degraded" if len(fresh) < len(connected) else "ready"
    return {
        "ready": bool(fresh),
        "freshness_window_seconds": settings.get(tenant_id, "freshness_window_seconds"),
        "sources": {s: {"connected": state.connected, "last_event_at": iso(state.last_event_at_ms),
                        "fresh": state.fresh} for s, state in states.items()},
        "state": state,
        "reasons": reasons,
    }


def unavailable() -> dict[str, Any]:
    """Readiness when the store cannot be read."""
    return {"ready": False,
            "freshness_window_seconds": int(current_app.config["FRESHNESS_WINDOW_SECONDS"]),
            "sources": {s: {"connected": False, "last_event_at": None, "fresh": False}
                        for s in WATCHED},
            "state": "unavailable", "reasons": ["storage is unavailable"]}


def _ingestion(tenant_id: str | None, now_ms: int) -> dict[str, Any]:
    tenants = [tenant_id] if tenant_id else [t for (t,) in Tenant.select(Tenant.id).tuples()]
    states = [s for t in tenants for s in freshness.sources(t, now_ms).values() if s.connected]
    last = max((s.last_event_at_ms for s in states), default=None)
    status = ("idle" if not states else "stale" if any(not s.fresh for s in states)
              else "receiving")
    return {"status": status, "last_event_at": iso(last)}


def _aggregation(now_ms: int) -> dict[str, Any]:
    latest = runs.latest("aggregate", finished=True)
    if latest is None:
        return {"status": "never_run", "last_run_at": None, "last_error": None}
    success = latest if latest.error is None else runs.last_success("aggregate")
    config = current_app.config
    allowed_ms = int((3 * float(config["AGGREGATE_INTERVAL_SECONDS"])
                      + float(config["AGGREGATE_SETTLE_SECONDS"])) * 1000)
    if latest.error is not None:
        status = "failing"
    elif success is None or now_ms - success.finished_at_ms > allowed_ms:
        status = "lagging"
    else:
        status = "ok"
    return {"status": status, "last_run_at": iso(latest.finished_at_ms),
            "last_error": latest.error}


def health(tenant_id: str | None, window_seconds: int) -> dict[str, Any]:
    """Ingestion and aggregation status, events received by outcome and rejections by error
    code within the window (the counts of ``conversions_events_received_total``)."""
    now = clock.now_ms()
    start = now - window_seconds * 1000
    return {
        "ingestion": _ingestion(tenant_id, now),
        "aggregation": _aggregation(now),
        "received": figures.outcome_counts(tenant_id, start, now + 1, received=True),
        "errors": figures.outcome_counts(tenant_id, start, now + 1),  # the window holds now
        "window": {"from": iso(start), "to": iso(now), "seconds": window_seconds},
    }


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _store_unavailable(err: Exception) -> ResponseReturnValue:
    """Readiness answers in its own shape when the store is down (even before the view)."""
    log.warning("store unavailable", extra={"error_type": type(err).__name__})
    instruments.store_unavailable(type(err).__name__)
    return errors.store_unavailable(
        unavailable() if request.endpoint == "health.readiness_view" else None)


class SourceState(Schema):
    connected = fields.Boolean(required=True)
    last_event_at = IsoInstant(required=True, allow_none=True)
    fresh = fields.Boolean(required=True)


class Readiness(Schema):
    ready = fields.Boolean(required=True)
    freshness_window_seconds = fields.Integer(required=True)
    sources = fields.Dict(keys=fields.String(validate=validate.OneOf(WATCHED)),
                          values=fields.Nested(SourceState), required=True)
    state = fields.String(required=True, validate=validate.OneOf(
        ["ready", "degraded", "not_ready", "unavailable"]))
    reasons = fields.List(fields.String(), required=True)


class ReadinessQuery(params.Query):
    tenant_id = params.tenant_id()


@bp.get("/api/conversions/readiness")
@openapi.operation(
    "get", query=ReadinessQuery, tags=["figures"],
    summary="Whether a tenant's sources are connected and fresh.",
    responses={"200": json_answer("Readiness.", Readiness), **openapi.errors(400, 404),
               "503": json_answer("Storage is unavailable: state 'unavailable'.", Readiness,
                                  headers={"Retry-After": {"required": True,
                                                           "schema": {"type": "string"}}})})
@admin_required
def readiness_view() -> ResponseReturnValue:
    return jsonify(readiness(params.load(ReadinessQuery)["tenant_id"]))


class Ingestion(Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["idle", "stale", "receiving"]))
    last_event_at = IsoInstant(required=True, allow_none=True)


class Aggregation(Schema):
    status = fields.String(required=True,
                           validate=validate.OneOf(["never_run", "failing", "lagging", "ok"]))
    last_run_at = IsoInstant(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)


class Window(Schema):
    from_ = IsoInstant(required=True, data_key="from")
    to = IsoInstant(required=True)
    seconds = fields.Integer(required=True)


class Received(Schema):
    """Events received in the window that were not refused, by outcome."""

    accepted = fields.Integer(required=True, metadata={
        "description": "Stored (a postback's approval or reversal included)."})
    duplicate = fields.Integer(required=True, metadata={"description": "Stored already."})
    test = fields.Integer(required=True, metadata={
        "description": "Test events, kept apart with their verdict."})


class Health(Schema):
    ingestion = fields.Nested(Ingestion, required=True)
    aggregation = fields.Nested(Aggregation, required=True)
    received = fields.Nested(Received, required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                         metadata={"description": "Refusals in the window by error code."})
    window = fields.Nested(Window, required=True)


class HealthQuery(params.Query):
    tenant_id = params.tenant_id(required=False)
    window_seconds = params.seconds("Error-count window (60 to 2678400).", 60, 31 * 86400)


@bp.get("/api/conversions/health")
@openapi.operation(
    "get", query=HealthQuery, tags=["figures"],
    summary="Ingestion and aggregation status, error counts.",
    responses={"200": json_answer("Health.", Health), **openapi.errors(400, 404, 503)})
@admin_required
def health_view() -> ResponseReturnValue:
    query = params.load(HealthQuery)
    window = query.get("window_seconds", int(current_app.config["HEALTH_WINDOW_SECONDS"]))
    return jsonify(health(query.get("tenant_id"), window))
