"""``POST /api/v1/track/pixel/goal``: canonical-JSON signed goal events (SIGNING.md §1)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from conversions import canonical, clock, limits, rules, store, tally, test_events
from conversions.errors import ApiError, invalid_event, pii_rejected
from conversions.responses import json_response
from conversions.schemas import flatten, goal_event
from conversions.signing import GOAL_BODY, GOAL_RENDERINGS, verified_tenant

bp = Blueprint("goals", __name__)


def check_pii(body: dict) -> None:
    """Refuse an event with personal data in any string, naming where (never the value)."""
    found = dict(rules.find_pii(body))
    if found:
        raise pii_rejected(found)


def goal_row(tenant_id: str, body: dict, received_at: float,
             rendered: list[bytes] | None = None) -> dict[str, Any]:
    """The row to store for a verified goal body received at ``received_at`` (Unix seconds),
    by today's rules and configuration; refuses one that breaks a rule. ``rendered``: the
    body's canonical renderings when the caller has them (the middleware's)."""
    check_pii(body)
    unstorable = rules.lone_surrogates(body)
    if unstorable:
        raise invalid_event(unstorable)
    if test_events.PARAM in body:  # not signed (SIGNING.md): a test flag must not be forged in
        raise invalid_event({test_events.PARAM: [
            "is not signed in a goal; send ?test_event_code= or X-Conversions-Test instead"]})
    config = current_app.config
    try:
        event = goal_event.load(body)
    except ValidationError as err:
        raise invalid_event(flatten(err.messages)) from None
    properties = event.get("properties") or {}
    value = properties.get("value")
    return {
        "tenant": tenant_id,
        "source_type": "goal",
        "signed": True,
        "event_name": event["event_name"],
        "value_hundredths": None if value is None else rules.to_hundredths(value),
        "currency": properties.get("currency"),
        "session_id": event.get("session_id") or None,
        "properties": canonical.json_text({"plan": properties["plan"]})
        if properties.get("plan") is not None else None,
        "first_touch_bucket": event.get("first_touch_bucket") or None,
        "first_touch_ts": event.get("first_touch_ts") or None,
        "first_touch_at_ms": rules.honored_first_touch_ms(
            event.get("first_touch_ts"), received_at, int(config["FIRST_TOUCH_MAX_AGE_DAYS"]),
            float(config["EVENT_MAX_FUTURE_SECONDS"])),
        "occurred_at_ms": int(received_at * 1000),
        "received_at_ms": int(received_at * 1000),
        "dedup_key": "sig:" + canonical.digest(body, tenant_id, rendered),
    }


@bp.post("/api/v1/track/pixel/goal")
@limits.ingest("goal")
def track_goal() -> ResponseReturnValue:
    tenant_id = verified_tenant()
    test_code = test_events.valid_code()
    body = request.environ.get(GOAL_BODY)
    if body is None:
        try:
            body = canonical.parse_body(request.environ["hmac.body"])
        except canonical.NotJson as err:
            raise ApiError(400, "invalid_json", str(err)) from None
    row = goal_row(tenant_id, body, clock.now(), request.environ.get(GOAL_RENDERINGS))
    if test_code is not None:
        return test_events.accepted(tenant_id, "goal", test_code, body)
    event_id, duplicate = store.insert_event(row)
    if not duplicate:
        tally.accepted(tenant_id, "goal")
    return json_response({"event_id": str(event_id), "duplicate": duplicate},
                         200 if duplicate else 202)
