"""Every endpoint's OpenAPI operations, in one place (``conversions.openapi`` builds on it).

Schemas are the marshmallow classes the views load with or answer with, so a changed field
shows in the document. A test fails when a URL rule of the app has no entry here.
"""
from __future__ import annotations

from typing import Any

from conversions import api_schemas, schemas

_ERRORS = {
    400: "The request breaks a rule (see `error`).",
    401: "Missing or invalid credentials or signature.",
    403: "Not allowed from here (no admin token configured and not loopback, or cross-site; "
         "for a postback, an address off the tenant's allow-list).",
    404: "Unknown tenant or resource.",
    409: "The resource cannot do this (see `error`).",
    411: "A Content-Length header is required.",
    413: "The body is over the endpoint's limit (`payload_too_large`).",
    415: "The body has an unsupported media type.",
    422: "Rows break rules and nothing was stored (`import_refused`, with every error).",
    429: "Over the rate limit (`rate_limited`); retry after `Retry-After` seconds.",
    503: "Storage is unavailable (`store_unavailable`); retry after `Retry-After` seconds.",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                                "schema": {"type": "string"}}}


def json_response(description: str, schema: Any, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            **extra}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses, each the one JSON error shape."""
    out = {}
    for status in statuses:
        extra = {"headers": _RETRY_AFTER} if status in (429, 503) else {}
        out[str(status)] = json_response(_ERRORS[status], "Error", **extra)
    return out


# A request flagged as a test is verified and validated, then kept apart (test_events.py).
TEST_FLAGS = [
    {"in": "query", "name": "test_event_code", "schema": {"type": "string"},
     "description": "Flags a test event: 1 to 64 letters, digits or _ . : -"},
    {"in": "header", "name": "X-Conversions-Test", "schema": {"type": "string"},
     "description": "Flags a test event, as test_event_code does."},
]


def accepted_or_test(schema: Any) -> dict[str, Any]:
    from conversions.api_operations import TestAccepted

    return {"oneOf": [schema, TestAccepted]}


def admin(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation behind ``@admin_required``: bearer token (or loopback), same-site only."""
    return {**operation, "security": [{"adminBearer": []}],
            "responses": {**operation["responses"], **errors(401, 403)}}


def core_paths() -> dict[str, dict[str, Any]]:
    return {
        "/healthz": {"get": {
            "summary": "Liveness for load balancers (no auth, no database).",
            "tags": ["operations"],
            "responses": {"200": json_response("Alive.", api_schemas.Liveness)},
        }},
        "/api/openapi.json": {"get": {
            "summary": "This OpenAPI document.",
            "tags": ["operations"],
            "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
        "/api/v1/track/pixel/goal": {"post": {
            "summary": "A signed goal event (canonical JSON, hex HMAC-SHA256; SIGNING.md §1).",
            "tags": ["ingestion"],
            "security": [{"goalSignature": []}],
            "parameters": [{"in": "query", "name": "domain", "required": True,
                            "schema": {"type": "string"},
                            "description": "The tenant's registered domain."},
                           *TEST_FLAGS],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": schemas.GoalEvent}}},
            "responses": {
                "202": json_response("Stored (or kept apart as a test event).",
                                     accepted_or_test(api_schemas.GoalAccepted)),
                "200": json_response("A duplicate (stored once already).",
                                     api_schemas.GoalAccepted),
                **errors(400, 401, 404, 411, 413, 429, 503),
            },
        }},
    }


def paths() -> dict[str, dict[str, Any]]:
    """Every documented path, by its OpenAPI template (``/x/{id}``)."""
    from conversions.api_attribution import attribution_paths
    from conversions.api_ingestion import ingestion_paths
    from conversions.api_monitoring import monitoring_paths
    from conversions.api_operations import operations_paths
    from conversions.api_pages import page_paths
    from conversions.api_postbacks import import_paths, postback_paths

    return {**core_paths(), **ingestion_paths(), **monitoring_paths(), **operations_paths(),
            **attribution_paths(), **page_paths(), **postback_paths(), **import_paths()}
