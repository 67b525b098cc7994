"""``POST /api/conversions/webhook``: Standard Webhooks signed events, alone or in batches.

The middleware has verified the signature and the timestamp. A batch is all or nothing:
every problem of every event is named, and a valid batch is stored in one transaction with
the delivery's ``webhook-id``, whose unique index makes a replay a duplicate.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request
from flask.typing import ResponseReturnValue

from conversions.core import canonical, clock
from conversions.ingest import flagged_tests, limits
from conversions.ingest.events import webhook_rows
from conversions.ingest.signing import WEBHOOK_PATH, verified_tenant
from conversions.rollups import tally
from conversions.store.events import insert_batch
from conversions.web import json_shape
from conversions.web.errors import ApiError
from conversions.web.responses import json_response

bp = Blueprint("webhooks", __name__)


@bp.post(WEBHOOK_PATH)
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
