"""``GET /api/openapi.json``: the OpenAPI 3.1 document, built by apispec from the schemas.

Each package describes its own endpoints, keyed by endpoint name (``describe``); the builder
walks the app's URL map, so every path is its route's own, and a test fails when a route has
no description. The helpers here give every description the same error and security shapes.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import INCLUDE, Schema, fields

bp = Blueprint("openapi", __name__)

DOC_PATH = "/api/openapi.json"
_REGISTRY = "conversions.openapi"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminBearer": {
        "type": "http", "scheme": "bearer",
        "description": "CONVERSIONS_ADMIN_TOKEN. When none is configured, loopback clients "
                       "are answered without it.",
    },
    "settingsSession": {
        "type": "apiKey", "in": "cookie", "name": "session",
        "description": "The /settings pages' session, opened by signing in with the token.",
    },
    "goalSignature": {
        "type": "apiKey", "in": "header", "name": "X-LP-Goal-Signature",
        "description": "Hex HMAC-SHA256 of the goal's canonical JSON, keyed by the bytes of "
                       "the tenant's pixel secret (docs/signing.md).",
    },
    "webhookSignature": {
        "type": "apiKey", "in": "header", "name": "webhook-signature",
        "description": "Standard Webhooks: 'v1,<base64 HMAC-SHA256>' over "
                       "'{webhook-id}.{webhook-timestamp}.{body}', keyed by the webhook secret.",
    },
}


class Error(Schema):
    """Every refusal: ``{"error": code, "message": text, ...}`` (more keys per error)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"description": "A stable error code."})
    message = fields.String(required=True, metadata={"description": "Human-readable text."})
    fields_ = fields.Dict(
        data_key="fields", keys=fields.String(),
        metadata={"description": "Where the problems are (invalid_event, pii_rejected): "
                                 "at most 2 KiB of JSON, paths at most 120 characters, at "
                                 "most three places of personal data."},
    )
    fields_omitted = fields.Integer(metadata={
        "description": "How many problems `fields` leaves out to stay within 2 KiB."})


_ERRORS = {
    400: "The request breaks a rule (see `error`); a JSON body or parameters past the shape "
         "(32 levels, 50,000 keys or strings) is `json_too_complex`.",
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
    503: "Storage is unavailable or did not answer in time (`store_unavailable`): the request "
         "may have been stored; retrying after `Retry-After` seconds is safe.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                               "required": True, "schema": {"type": "string"}}}


def json_response(description: str, schema: Any, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            **extra}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses, each the one JSON error shape."""
    out = {}
    for status in statuses:
        extra = {"headers": RETRY_AFTER} if status in (429, 503) else {}
        out[str(status)] = json_response(_ERRORS[status], "Error", **extra)
    return out


def admin(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation behind ``@admin_required``: bearer token (or loopback), same-site only."""
    return {**operation, "security": [{"adminBearer": []}],
            "responses": {**operation["responses"], **errors(401, 403)}}


def query(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    """A query parameter (text, with ``schema``'s constraints)."""
    return {"in": "query", "name": name, "required": required, "description": description,
            "schema": {"type": "string", **schema}}


def describe(app: Flask, operations: Mapping[str, Mapping[str, Any]],
             field_types: Mapping[type, str] | None = None) -> None:
    """Add ``operations`` (endpoint name -> method -> OpenAPI operation) to ``app``'s document;
    ``field_types``: the OpenAPI type of each custom marshmallow field they use."""
    registry = app.extensions.setdefault(_REGISTRY, {"operations": {}, "field_types": {}})
    registry["operations"].update(operations)
    registry["field_types"].update(field_types or {})


def path_template(rule: str) -> str:
    """A Flask rule (``/x/<int:id>``) as an OpenAPI path template (``/x/{id}``)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def build(app: Flask, version: str = "0.1.0") -> dict[str, Any]:
    """The whole document, as a dict."""
    registry = app.extensions.get(_REGISTRY, {"operations": {}, "field_types": {}})
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="conversions", version=version, openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Ingests signed conversion events and serves their figures. "
                             "Every error body is JSON: {\"error\", \"message\", ...}."},
    )
    for field, openapi_type in registry["field_types"].items():
        plugin.map_to_openapi_type(field, openapi_type, None)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", schema=Error)
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        operations = registry["operations"].get(rule.endpoint)
        if operations is not None:
            # apispec resolves schemas in place: each document gets its own copy.
            spec.path(path=path_template(rule.rule), operations=copy.deepcopy(dict(operations)))
    return spec.to_dict()


OPERATIONS = {
    "openapi.openapi_json": {"get": {
        "summary": "This OpenAPI document.",
        "tags": ["operations"],
        "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}


@bp.get(DOC_PATH)
def openapi_json() -> ResponseReturnValue:
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build(current_app)
    return jsonify(document)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    describe(app, OPERATIONS)
