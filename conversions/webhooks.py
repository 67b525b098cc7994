"""``POST /api/conversions/webhook``: Standard Webhooks signed events, alone or in batches.

The middleware has verified the signature and the timestamp. A batch is all or nothing:
every problem of every event is named, and a valid batch is stored in one transaction with
the delivery's ``webhook-id``, whose unique index makes a replay a duplicate.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from conversions import canonical, clock, limits, rules, store, tally, test_events
from conversions.errors import ApiError, invalid_event, pii_rejected
from conversions.schemas import flatten, webhook_event
from conversions.signing import WEBHOOK_PATH, verified_tenant

bp = Blueprint("webhooks", __name__)


def without_test_code(body: dict[str, Any]) -> dict[str, Any]:
    """The body without its (signed) ``test_event_code``, which flags a test delivery."""
    return {key: value for key, value in body.items() if key != test_events.PARAM}


def events_of(body: dict[str, Any]) -> tuple[list[Any], str]:
    """The events of a body and the prefix naming them in errors (``events[3].``)."""
    if "events" not in body:
        return [body], ""
    events = body["events"]
    limit = int(current_app.config["WEBHOOK_MAX_EVENTS"])
    if set(body) != {"events"}:
        raise invalid_event({"$": ["a batch holds only events"]})
    if not isinstance(events, list) or not 1 <= len(events) <= limit:
        raise invalid_event({"events": [f"must be a list of 1 to {limit} events"]})
    return events, "events"


def validate(events: list[Any], prefix: str) -> list[dict[str, Any]]:
    """Every event loaded, or one refusal naming every problem of every event."""
    def name(index: int, path: str) -> str:
        where = f"{prefix}[{index}]" if prefix else ""
        return f"{where}.{path}".strip(".") if path != "$" else where or "$"

    pii = {name(i, path): kind for i, event in enumerate(events)
           for path, kind in rules.find_pii(event)}
    if pii:
        raise pii_rejected(pii)
    unstorable = {name(i, path): messages for i, event in enumerate(events)
                  for path, messages in rules.lone_surrogates(event).items()}
    if unstorable:
        raise invalid_event(unstorable)
    loaded, problems = [], {}
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            problems[name(index, "$")] = ["must be an object"]
            continue
        try:
            loaded.append(webhook_event.load(event))
        except ValidationError as err:
            problems.update({name(index, path): messages
                             for path, messages in flatten(err.messages).items()})
    if problems:
        raise invalid_event(problems)
    return loaded


def row(tenant_id: str, event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    value = event["event_value"]
    return {
        "tenant": tenant_id,
        "source_type": "webhook",
        "signed": True,
        "event_name": event["event_name"],
        "value_hundredths": None if value is None else rules.to_hundredths(value),
        "currency": event["currency"],
        "properties": None if event["properties"] is None
        else canonical.json_text(event["properties"]),
        "occurred_at_ms": event["event_ts"],
        "received_at_ms": now_ms,
        "dedup_key": f"id:{event['event_id']}" if event["event_id"] else None,
    }


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
    test_code = test_events.valid_code(body)
    events, prefix = events_of(without_test_code(body))
    loaded = validate(events, prefix)
    if test_code is not None:
        return test_events.accepted(tenant_id, "webhook", test_code, body)
    now_ms = clock.now_ms()
    window_ms = int(current_app.config["REPLAY_WINDOW_SECONDS"]) * 1000
    stored = store.insert_batch(
        [row(tenant_id, event, now_ms) for event in loaded],
        {"tenant": tenant_id, "message_id": message_id, "received_at_ms": now_ms,
         "event_count": len(loaded), "window_start_ms": now_ms - window_ms},
    )
    if stored is None:
        return jsonify(duplicate=True, webhook_id=message_id, accepted=0,
                       duplicates=len(loaded), event_ids=[]), 200
    accepted = sum(1 for _, duplicate in stored if not duplicate)
    if accepted:
        tally.accepted(tenant_id, "webhook", accepted)
    return jsonify(duplicate=False, webhook_id=message_id, accepted=accepted,
                   duplicates=len(stored) - accepted,
                   event_ids=[str(event_id) for event_id, _ in stored]), 202 if accepted else 200
