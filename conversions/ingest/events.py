"""Event rows from what each source sent: checked for personal data, loaded by its schema,
and shaped for the ``Event`` table by today's rules and configuration.

The views build their rows here, and so does a dead letter's replay, so a replayed event is
stored exactly as it would have been.
"""
from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields

from conversions.core import canonical, money, rules
from conversions.ingest.flagged_tests import PARAM
from conversions.ingest.schemas import flatten, goal_event, pixel_event, webhook_event
from conversions.web.errors import ApiError, invalid_event, pii_rejected


class EventAccepted(Schema):
    """A stored event (the answer): its id, and whether it had been received before."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)


def check_pii(found: dict[str, str]) -> None:
    """Refuse an event with personal data at the paths ``found`` names (never the value)."""
    if found:
        raise pii_rejected(found)


def check_unicode(found: dict[str, list[str]]) -> None:
    """Refuse text no store keeps (a lone surrogate) at the paths ``found`` names."""
    if found:
        raise invalid_event(found)


def check_text(value: Any) -> None:
    """Refuse ``value`` if any of its text holds personal data, else any a lone surrogate."""
    pii, broken = rules.text_findings(value)
    check_pii(dict(pii))
    check_unicode(broken)


def goal_row(tenant_id: str, body: dict, received_at: float,
             rendered: list[bytes] | None = None) -> dict[str, Any]:
    """The row to store for a verified goal body received at ``received_at`` (Unix seconds);
    refuses one that breaks a rule. ``rendered``: the body's canonical renderings when the
    caller has them (the middleware's)."""
    check_text(body)
    if PARAM in body:  # not signed (docs/signing.md): a test flag must not be forged in
        raise invalid_event({PARAM: [
            "is not signed in a goal; send ?test_event_code= or X-Conversions-Test instead"]})
    config = current_app.config
    try:
        event = goal_event.load(body)
    except ValidationError as err:
        raise invalid_event(flatten(err.messages)) from None
    properties = event.get("properties") or {}
    received_ms = int(received_at * 1000)
    return {
        "tenant": tenant_id,
        "source_type": "goal",
        "signed": True,
        "event_name": event["event_name"],
        "value_hundredths": money.hundredths(properties.get("value")),
        "currency": properties.get("currency"),
        "session_id": event.get("session_id") or None,
        "properties": canonical.json_text({"plan": properties["plan"]})
        if properties.get("plan") is not None else None,
        "first_touch_bucket": event.get("first_touch_bucket") or None,
        "first_touch_ts": event.get("first_touch_ts") or None,
        "first_touch_at_ms": rules.honored_first_touch_ms(
            event.get("first_touch_ts"), received_at, int(config["FIRST_TOUCH_MAX_AGE_DAYS"]),
            float(config["EVENT_MAX_FUTURE_SECONDS"])),
        "occurred_at_ms": received_ms,
        "received_at_ms": received_ms,
        "dedup_key": "sig:" + canonical.digest(body, tenant_id, rendered),
    }


def without_test_code(body: dict[str, Any]) -> dict[str, Any]:
    """A webhook body without its (signed) ``test_event_code``, which flags a test delivery."""
    return {key: value for key, value in body.items() if key != PARAM}


def webhook_events(body: dict[str, Any]) -> tuple[list[Any], str]:
    """The events of a webhook body and the prefix naming them in errors (``events[3].``)."""
    if "events" not in body:
        return [body], ""
    events = body["events"]
    limit = int(current_app.config["WEBHOOK_MAX_EVENTS"])
    if set(body) != {"events"}:
        raise invalid_event({"$": ["a batch holds only events"]})
    if not isinstance(events, list) or not 1 <= len(events) <= limit:
        raise invalid_event({"events": [f"must be a list of 1 to {limit} events"]})
    return events, "events"


def load_webhook_events(events: list[Any], prefix: str) -> list[dict[str, Any]]:
    """Every event loaded, or one refusal naming every problem of every event."""
    def name(index: int, path: str) -> str:
        where = f"{prefix}[{index}]" if prefix else ""
        return f"{where}.{path}".strip(".") if path != "$" else where or "$"

    pii: dict[str, str] = {}
    broken: dict[str, list[str]] = {}
    for index, event in enumerate(events):
        found, surrogates = rules.text_findings(event)
        pii.update((name(index, path), kind) for path, kind in found)
        broken.update((name(index, path), messages) for path, messages in surrogates.items())
    check_pii(pii)
    check_unicode(broken)
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


def webhook_row(tenant_id: str, event: dict[str, Any], received_ms: int) -> dict[str, Any]:
    """The row of one loaded webhook event."""
    return {
        **_conversion(tenant_id, "webhook", event, received_ms),
        "signed": True,
        "properties": event["properties"],  # JSON text already (schemas.JsonText)
        "occurred_at_ms": event["event_ts"],
    }


def webhook_rows(tenant_id: str, body: Any, received_at: float) -> list[dict[str, Any]]:
    """The rows of a verified webhook body (a test code in it set aside); refuses a bad one."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    events, prefix = webhook_events(without_test_code(body))
    received_ms = int(received_at * 1000)
    return [webhook_row(tenant_id, event, received_ms)
            for event in load_webhook_events(events, prefix)]


def load_pixel(data: dict[str, Any]) -> dict[str, Any]:
    """The pixel's parameters loaded, or the refusal of the first rule they break."""
    check_text(data)
    try:
        return pixel_event.load(data)
    except ValidationError as err:
        raise invalid_event(flatten(err.messages)) from None


def pixel_row(tenant_id: str, event: dict[str, Any], received_ms: int) -> dict[str, Any]:
    """The row of a loaded pixel event (unsigned: a hint, never attributed)."""
    return {**_conversion(tenant_id, "pixel", event, received_ms), "signed": False,
            "occurred_at_ms": event["event_ts"] or received_ms}


def _conversion(tenant_id: str, source: str, event: dict[str, Any],
                received_ms: int) -> dict[str, Any]:
    """The columns a pixel and a webhook event fill alike."""
    return {
        "tenant": tenant_id,
        "source_type": source,
        "event_name": event["event_name"],
        "value_hundredths": money.hundredths(event["event_value"]),
        "currency": event["currency"],
        "received_at_ms": received_ms,
        "dedup_key": f"id:{event['event_id']}" if event["event_id"] else None,
    }
