"""OpenAPI operations of the pixel and webhook ingestion endpoints."""
from __future__ import annotations

from typing import Any

from conversions import api_schemas, schemas
from conversions.api_paths import TEST_FLAGS, accepted_or_test, errors, json_response

_GIF = {"image/gif": {"schema": {"type": "string", "format": "binary"}}}
_NO_STORE = {"Cache-Control": {"description": "Never cached.", "schema": {"type": "string"}}}


def _pixel_answer(description: str, *, status_json: Any = None) -> dict[str, Any]:
    """A pixel answer: the GIF, or JSON when the client sends ``Accept: application/json``."""
    content = dict(_GIF)
    if status_json is not None:
        content["application/json"] = {"schema": status_json}
    return {"description": description, "content": content,
            "headers": {**_NO_STORE, "X-Conversions-Error": {
                "description": "On a refusal answered with the image: the error code.",
                "schema": {"type": "string"}}}}


def _pixel_operation(**extra: Any) -> dict[str, Any]:
    return {
        "summary": "A browser pixel event (unsigned hint); answers a 43-byte transparent GIF.",
        "tags": ["ingestion"],
        "responses": {
            "200": _pixel_answer("Stored or a duplicate (GIF), or a duplicate (JSON).",
                                 status_json=api_schemas.EventAccepted),
            "202": json_response("Stored, or kept as a test event (JSON answer).",
                                 accepted_or_test(api_schemas.EventAccepted)),
            "400": _pixel_answer("A parameter breaks a rule; X-Conversions-Error names it.",
                                 status_json="Error"),
            "429": {**_pixel_answer("Over the rate limit.", status_json="Error"),
                    "headers": {"Retry-After": {"required": True,
                                                "schema": {"type": "string"}}}},
            **errors(503),
        },
        **extra,
    }


def ingestion_paths() -> dict[str, dict[str, Any]]:
    pixel_params = [{"in": "query", "schema": schemas.PixelEvent}, *TEST_FLAGS]
    pixel_post = _pixel_operation(parameters=TEST_FLAGS, requestBody={"content": {
        "application/json": {"schema": schemas.PixelEvent},
        "application/x-www-form-urlencoded": {"schema": schemas.PixelEvent},
    }})
    pixel_post["responses"]["413"] = _pixel_answer("The body is over the limit.",
                                                    status_json="Error")
    return {
        "/api/conversions/pixel": {
            "get": _pixel_operation(parameters=pixel_params),
            "post": pixel_post,
        },
        "/api/conversions/webhook": {"post": {
            "summary": "A Standard Webhooks signed event, or a batch stored all or none.",
            "tags": ["ingestion"],
            "security": [{"webhookSignature": []}],
            "parameters": [
                {"in": "query", "name": "buyer_id", "schema": {"type": "string"},
                 "description": "The tenant's buyer id (or give tenant_id)."},
                {"in": "query", "name": "tenant_id", "schema": {"type": "string"}},
                {"in": "header", "name": "webhook-id", "required": True,
                 "schema": {"type": "string"}},
                {"in": "header", "name": "webhook-timestamp", "required": True,
                 "schema": {"type": "string"}, "description": "Unix seconds."},
                *TEST_FLAGS,
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [schemas.WebhookEvent, api_schemas.WebhookBatch]}}}},
            "responses": {
                "202": json_response("Stored (or kept apart as a test delivery).",
                                     accepted_or_test(api_schemas.WebhookAccepted)),
                "200": json_response("A duplicate delivery or only duplicate events.",
                                     api_schemas.WebhookAccepted),
                **errors(400, 401, 404, 411, 413, 429, 503),
            },
        }},
    }
