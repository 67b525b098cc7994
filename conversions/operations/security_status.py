"""``GET /api/conversions/security/status``: each tenant's secrets and limits, never a secret."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import clock
from conversions.core.sources import RATE_LIMITED, SECRET_KINDS, VERIFIED_BY
from conversions.rollups import figures
from conversions.store.models import SigningKey, Tenant
from conversions.tenants import settings
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import json_answer

bp = Blueprint("security_status", __name__)

def secret_status(tenant_id: str, kind: str, now_ms: int) -> dict[str, Any]:
    """Whether a ``kind`` secret is set, its age, and the keys live in rotation grace."""
    keys = list(SigningKey.select(SigningKey.id, SigningKey.created_at_ms,
                                  SigningKey.expires_at_ms)
                .where(SigningKey.tenant == tenant_id, SigningKey.kind == kind,
                       SigningKey.expires_at_ms.is_null() | (SigningKey.expires_at_ms > now_ms))
                .order_by(SigningKey.id.desc()))
    current = keys[0] if keys else None
    return {
        "set": current is not None,
        "age_seconds": None if current is None else (now_ms - current.created_at_ms) // 1000,
        "created_at_ms": None if current is None else current.created_at_ms,
        "live_keys": len(keys),
        "grace_until_ms": sorted(k.expires_at_ms for k in keys if k.expires_at_ms is not None),
        "verifies": list(VERIFIED_BY[kind]),
    }


def tenant_status(tenant: Tenant, now_ms: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant.id,
        "domain": tenant.domain,
        "secrets": {kind: secret_status(tenant.id, kind, now_ms) for kind in SECRET_KINDS},
        "rate_limits": {source: settings.get(tenant.id, "rate_limit", source)
                        for source in RATE_LIMITED},
        "signature_failures": signature_failures(tenant.id, now_ms),
    }


# Refusals that say a sender's signing is wrong (or someone is guessing).
SIGNATURE_ERRORS = ("missing_signature", "invalid_signature", "invalid_timestamp",
                    "stale_timestamp")


def signature_failures(tenant_id: str, now_ms: int) -> dict[str, Any]:
    """Refused signatures in the hours overlapping the last hour and the last day, by code.

    They are the outcome counts the flush job saves (every ``FLUSH_INTERVAL_SECONDS``), so
    the latest few seconds may not be in yet.
    """
    out: dict[str, Any] = {}
    for name, seconds in (("last_hour", 3600), ("last_day", 86400)):
        counts = figures.outcome_counts(tenant_id, now_ms - seconds * 1000, now_ms + 1)
        by_code = {code: counts.get(code, 0) for code in SIGNATURE_ERRORS}
        out[name] = {"total": sum(by_code.values()), **by_code}
    return out


class SecretState(Schema):
    set = fields.Boolean(required=True)
    age_seconds = fields.Integer(required=True, allow_none=True)
    created_at_ms = fields.Integer(required=True, allow_none=True)
    live_keys = fields.Integer(required=True)
    grace_until_ms = fields.List(fields.Integer(), required=True)
    verifies = fields.List(fields.String(), required=True)


class TenantSecurity(Schema):
    tenant_id = fields.String(required=True)
    domain = fields.String(required=True)
    secrets = fields.Dict(keys=fields.String(), values=fields.Nested(SecretState), required=True)
    rate_limits = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    signature_failures = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        required=True, metadata={"description": "last_hour and last_day, by error code."})


class SecurityStatus(Schema):
    tenants = fields.List(fields.Nested(TenantSecurity), required=True)


class StatusQuery(params.Query):
    tenant_id = params.tenant_id("Only this tenant's (UUID).", required=False)


@bp.get("/api/conversions/security/status")
@openapi.operation(
    "get", query=StatusQuery, tags=["operations"],
    summary="Each tenant's secrets (never the secret), rotation grace, limits, failures.",
    responses={"200": json_answer("Security status.", SecurityStatus),
               **openapi.errors(400, 404, 503)})
@admin_required
def status() -> ResponseReturnValue:
    tenant_id = params.load(StatusQuery).get("tenant_id")
    query = Tenant.select().order_by(Tenant.created_at_ms, Tenant.id)
    if tenant_id:
        query = query.where(Tenant.id == tenant_id)
    now_ms = clock.now_ms()
    return jsonify(tenants=[tenant_status(tenant, now_ms) for tenant in query])
