"""OpenAPI descriptions of the ingestion endpoints (pixel, webhook, signed goal) and ``/lp.js``."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from conversions.core.postback_providers import PROVIDERS
from conversions.ingest import schemas
from conversions.web.openapi import errors, json_response


class EventAccepted(Schema):
    """A stored event: its id, and whether it had been received before."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)


class WebhookBatch(Schema):
    """Several events in one signed delivery, stored all or none."""

    events = fields.List(fields.Nested(schemas.WebhookEvent), required=True)


class WebhookAccepted(Schema):
    """A webhook delivery: how many of its events were stored, and their ids."""

    duplicate = fields.Boolean(required=True,
                               metadata={"description": "The webhook-id was seen before."})
    webhook_id = fields.String(required=True)
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    event_ids = fields.List(fields.String(), required=True)


class TestAccepted(Schema):
    """A valid request flagged as a test: kept apart, never counted."""

    test_event_id = fields.String(required=True)
    test_event_code = fields.String(required=True)
    verdict = fields.String(required=True)


# A request flagged as a test is verified and validated, then kept apart (flagged_tests.py).
TEST_FLAGS = [
    {"in": "query", "name": "test_event_code", "schema": {"type": "string"},
     "description": "Flags a test event: 1 to 64 letters, digits or _ . : -"},
    {"in": "header", "name": "X-Conversions-Test", "schema": {"type": "string"},
     "description": "Flags a test event, as test_event_code does."},
]


def accepted_or_test(schema: Any) -> dict[str, Any]:
    return {"oneOf": [schema, TestAccepted]}


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
                                 status_json=EventAccepted),
            "202": json_response("Stored, or kept as a test event (JSON answer).",
                                 accepted_or_test(EventAccepted)),
            "400": _pixel_answer("A parameter breaks a rule; X-Conversions-Error names it.",
                                 status_json="Error"),
            "429": {**_pixel_answer("Over the rate limit.", status_json="Error"),
                    "headers": {"Retry-After": {"required": True,
                                                "schema": {"type": "string"}}}},
            **errors(503),
        },
        **extra,
    }


def _pixel_post() -> dict[str, Any]:
    operation = _pixel_operation(parameters=TEST_FLAGS, requestBody={"content": {
        "application/json": {"schema": schemas.PixelEvent},
        "application/x-www-form-urlencoded": {"schema": schemas.PixelEvent},
    }})
    operation["responses"]["413"] = _pixel_answer("The body is over the limit.",
                                                  status_json="Error")
    return operation


class PostbackAccepted(Schema):
    """A postback's event: stored (202), a duplicate (200), or approved or reversed now (202,
    updated)."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)
    updated = fields.Boolean(required=True, metadata={
        "description": "A declined, pending or other conversion was approved by this one, "
                       "or a counted one (any status but declined) declined: reversed, "
                       "once."})
    status = fields.String(allow_none=True, metadata={
        "description": "approved, pending, declined or other (RedTrack), else null."})
    time_estimated = fields.Boolean(required=True, metadata={
        "description": "No event time was sent: the receipt time stands in for it."})


def _postback(method: str) -> dict[str, Any]:
    body = {} if method == "get" else {"requestBody": {"content": {
        "application/json": {"schema": {"type": "object"}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}}
    return {
        "summary": "A provider's postback; the token in the path names the tenant.",
        "description": "Parameters are the provider's own (docs/postbacks.md). "
                       "Providers: " + ", ".join(f"{name} ({p.methods})"
                                                 for name, p in PROVIDERS.items()) + ". "
                       "A sender off the tenant's allow-list (403) spends only its address's "
                       "limit, never the tenant's; an address that sent too many unknown "
                       "tokens (`POSTBACK_GUESS_LIMIT`) gets 429 before any token is "
                       "looked up.",
        "tags": ["ingestion"],
        "parameters": [
            {"in": "path", "name": "provider", "required": True,
             "schema": {"type": "string", "enum": list(PROVIDERS)}},
            {"in": "path", "name": "token", "required": True, "schema": {"type": "string"},
             "description": "A live token of `tenant postback-token`."},
            *TEST_FLAGS,
        ],
        **body,
        "responses": {
            "202": json_response("Stored, approved now, or kept as a test event.",
                                 accepted_or_test(PostbackAccepted)),
            "200": json_response("A duplicate (stored once already).", PostbackAccepted),
            **errors(400, 401, 403, 404, 413, 429, 503),
        },
    }


OPERATIONS: dict[str, dict[str, Any]] = {
    "pixel.track_pixel": {
        "get": _pixel_operation(parameters=[{"in": "query", "schema": schemas.PixelEvent},
                                            *TEST_FLAGS]),
        "post": _pixel_post(),
    },
    "webhooks.receive_webhook": {"post": {
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
            "oneOf": [schemas.WebhookEvent, WebhookBatch]}}}},
        "responses": {
            "202": json_response("Stored (or kept apart as a test delivery).",
                                 accepted_or_test(WebhookAccepted)),
            "200": json_response("A duplicate delivery or only duplicate events.",
                                 WebhookAccepted),
            **errors(400, 401, 404, 411, 413, 429, 503),
        },
    }},
    "goals.track_goal": {"post": {
        "summary": "A signed goal event (canonical JSON, hex HMAC-SHA256; docs/signing.md §1).",
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
                                 accepted_or_test(EventAccepted)),
            "200": json_response("A duplicate (stored once already).", EventAccepted),
            **errors(400, 401, 404, 411, 413, 429, 503),
        },
    }},
    "postbacks.receive_postback": {"get": _postback("get"), "post": _postback("post")},
    "snippet.lp_js": {"get": {
        "summary": "The browser snippet: lp.firstTouch() and lp.track().",
        "tags": ["browser"],
        "responses": {
            "200": {"description": "The script (cacheable, with a strong ETag).",
                    "content": {"text/javascript": {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        },
    }},
}

# The schemas' own fields, as the document types them.
FIELD_TYPES = {schemas.Money: "number", schemas.Currency: "string", schemas.EventTime: "string"}
