"""``POST /api/conversions/webhook``: Standard Webhooks signed events, alone or in batches.

The middleware has verified the signature and the timestamp. A batch is all or nothing:
every problem of every event is named, and a valid batch is stored in one transaction with
the delivery's ``webhook-id``, whose unique index makes a replay a duplicate.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import canonical, clock
from conversions.ingest import flagged_tests, limits, schemas
from conversions.ingest.events import webhook_rows
from conversions.ingest.signing import WEBHOOK_PATH, verified_tenant
from conversions.rollups import tally
from conversions.store.events import insert_batch
from conversions.web import json_shape, openapi
from conversions.web.errors import ApiError
from conversions.web.responses import json_response

bp = Blueprint("webhooks", __name__)


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


@bp.post(WEBHOOK_PATH)
@openapi.operation(
    "post", tags=["ingestion"], security=[{"webhookSignature": []}],
    summary="A Standard Webhooks signed event, or a batch stored all or none.",
    parameters=[
        {"in": "query", "name": "buyer_id", "schema": {"type": "string"},
         "description": "The tenant's buyer id (or give tenant_id)."},
        {"in": "query", "name": "tenant_id", "schema": {"type": "string"}},
        {"in": "header", "name": "webhook-id", "required": True, "schema": {"type": "string"}},
        {"in": "header", "name": "webhook-timestamp", "required": True,
         "schema": {"type": "string"}, "description": "Unix seconds."},
        *flagged_tests.PARAMETERS],
    requestBody={"required": True, "content": {"application/json": {"schema": {
        "oneOf": [schemas.WebhookEvent, WebhookBatch]}}}},
    responses={
        "202": openapi.json_answer("Stored (or kept apart as a test delivery).",
                                   flagged_tests.accepted_or_test(WebhookAccepted)),
        "200": openapi.json_answer("A duplicate delivery or only duplicate events.",
                                   WebhookAccepted),
        **openapi.errors(400, 401, 404, 411, 413, 429, 503)})
@limits.ingest("webhook")
def receive_webhook() -> ResponseReturnValue:
    tenant_id = verified_tenant()
    message_id = request.environ["hmac.message_id"]
    if len(message_id) > 255 or not message_id.isprintable():
        raise ApiError(400, "invalid_webhook_id", "webhook-id must be at most 255 characters.")
    try:
        body = canonical.parse_body(request.environ["hmac.body"])
    except canonical.NotJson as err:
        raise ApiError(400, "invalid_json", str(err)) from None
    g.ingest_payload = body  # a refusal keeps what was read (ingest/rejections.py)
    json_shape.check(body)
    test_code = flagged_tests.valid_code(body)
    now = clock.now()
    rows = webhook_rows(tenant_id, body, now)
    if test_code is not None:
        return flagged_tests.accepted(tenant_id, "webhook", test_code, body)
    now_ms = int(now * 1000)
    window_ms = int(current_app.config["REPLAY_WINDOW_SECONDS"]) * 1000
    stored = insert_batch(rows, {"tenant": tenant_id, "message_id": message_id,
                                 "received_at_ms": now_ms, "event_count": len(rows),
                                 "window_start_ms": now_ms - window_ms})
    if stored is None:
        tally.duplicate(tenant_id, "webhook", len(rows))
        return json_response({"duplicate": True, "webhook_id": message_id, "accepted": 0,
                              "duplicates": len(rows), "event_ids": []})
    accepted = sum(1 for _, duplicate in stored if not duplicate)
    tally.accepted(tenant_id, "webhook", accepted)
    tally.duplicate(tenant_id, "webhook", len(stored) - accepted)
    return json_response({"duplicate": False, "webhook_id": message_id, "accepted": accepted,
                          "duplicates": len(stored) - accepted,
                          "event_ids": [str(event_id) for event_id, _ in stored]},
                         202 if accepted else 200)
