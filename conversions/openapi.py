"""``GET /api/openapi.json``: the OpenAPI 3.1 document, built by apispec from the schemas.

Paths and their operations are registered in ``conversions.api_paths``; a test holds that
module to the app's URL map, so an endpoint without a description fails the suite.
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from conversions import api_paths, schemas
from conversions.api_schemas import Error

bp = Blueprint("openapi", __name__)

DOC_PATH = "/api/openapi.json"

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
                       "the tenant's pixel secret (SIGNING.md).",
    },
    "webhookSignature": {
        "type": "apiKey", "in": "header", "name": "webhook-signature",
        "description": "Standard Webhooks: 'v1,<base64 HMAC-SHA256>' over "
                       "'{webhook-id}.{webhook-timestamp}.{body}', keyed by the webhook secret.",
    },
}


def build(version: str = "0.1.0") -> dict[str, Any]:
    """The whole document, as a dict."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="conversions", version=version, openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Ingests signed conversion events and serves their figures. "
                             "Every error body is JSON: {\"error\", \"message\", ...}."},
    )
    plugin.map_to_openapi_type(schemas.Money, "number", None)
    plugin.map_to_openapi_type(schemas.Currency, "string", None)
    plugin.map_to_openapi_type(schemas.EventTime, "string", None)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", schema=Error)
    for path, operations in api_paths.paths().items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get(DOC_PATH)
def openapi_json() -> ResponseReturnValue:
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build()
    return jsonify(document)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
