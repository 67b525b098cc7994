"""Event rows from providers' postbacks: checked for personal data, read by the provider's
mapping (``core/postback_providers.py``), loaded by the shared schema and keyed for dedup.

The view builds its rows here, and so does a dead letter's replay, so a replayed postback is
stored exactly as it would have been.
"""
from __future__ import annotations

import hashlib
from typing import Any

from marshmallow import ValidationError

from conversions.core import canonical, money, sources
from conversions.core.postback_providers import PROVIDERS, Reading, pick
from conversions.ingest.events import check_text
from conversions.ingest.schemas import flatten, postback_event
from conversions.web.errors import ApiError, invalid_event

SOURCE = sources.POSTBACK.name


def dedup_key(provider: str, reading: Reading, params: dict[str, Any]) -> str:
    """The provider's own id when sent, else a digest of the fields naming the conversion."""
    event_id = reading.values.get("event_id")
    if event_id is not None:
        return f"pb:{provider}:id:{event_id}"
    named = {path: str(pick(params, path)) for path in reading.identity
             if pick(params, path) is not None}
    return f"pb:{provider}:sha:" + hashlib.sha256(
        canonical.json_text(named).encode()).hexdigest()


def postback_row(tenant_id: str, provider: str, params: dict[str, Any],
                 received_at: float) -> dict[str, Any]:
    """The row to store for a postback received at ``received_at`` (Unix seconds), by today's
    rules; refuses one that breaks a rule, naming the provider's own parameters."""
    check_text(params)  # a lone surrogate too: the dedup digest encodes the text
    reading = PROVIDERS[provider].read(params)
    values = {name: value for name, value in reading.values.items()
              if name != "event_id" or isinstance(value, (str, int))}
    if isinstance(values.get("status"), str):
        values["status"] = values["status"].lower()
    if "event_id" in values:
        values["event_id"] = str(values["event_id"])
    try:
        event = postback_event.load(values)
    except ValidationError as err:
        raise invalid_event({reading.sent_as.get(name.split(".")[0], name): messages
                             for name, messages in flatten(err.messages).items()}) from None
    if "event_id" in reading.values and "event_id" not in values:
        raise invalid_event({reading.sent_as["event_id"]: ["must be text"]})
    reading.values["event_id"] = event["event_id"]
    received_ms = int(received_at * 1000)
    value = event["event_value"]
    hundredths = money.hundredths(value)
    properties = {"click_id": event["click_id"]} if event["click_id"] else {}
    if event["status"] == "declined" and hundredths is not None:
        # Kept to value the conversion should it be approved later; never counted as revenue.
        properties["declined_value"] = str(value)
        hundredths = None
    return {
        "tenant": tenant_id,
        "source_type": SOURCE,
        "signed": False,
        "provider": provider,
        "status": event["status"],
        "event_name": event["event_name"],
        "value_hundredths": hundredths,
        "currency": event["currency"],
        "properties": canonical.json_text(properties) if properties else None,
        "occurred_at_ms": event["event_ts"] or received_ms,
        "time_estimated": event["event_ts"] is None,
        "received_at_ms": received_ms,
        "dedup_key": dedup_key(provider, reading, params),
    }


def postback_rows(tenant_id: str, payload: Any, received_at: float) -> list[dict[str, Any]]:
    """A postback dead letter's row, by today's rules (``operations/replay.py``)."""
    if not isinstance(payload, dict) or payload.get("provider") not in PROVIDERS \
            or not isinstance(payload.get("params"), dict):
        raise ApiError(400, "invalid_json", "The dead letter holds no postback.")
    return [postback_row(tenant_id, payload["provider"], payload["params"], received_at)]
