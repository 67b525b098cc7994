"""Signing webhooks as senders do: with the public ``standardwebhooks`` package, or by hand."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from conversions.core import clock


def body_of(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def package_headers(secret: str, body: bytes, msg_id: str | None = None,
                    timestamp: int | None = None) -> dict[str, str]:
    """Headers signed by ``standardwebhooks.Webhook`` (a client no one here wrote)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(clock.now()) if timestamp is None else timestamp
    moment = datetime.fromtimestamp(timestamp, UTC)
    signature = Webhook(secret).sign(msg_id, moment, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature, "Content-Type": "application/json"}


def hand_headers(secrets: list[str], body: bytes, msg_id: str | None = None,
                 timestamp: int | None = None) -> dict[str, str]:
    """Headers signed with ``hmac`` by hand: one ``v1,`` entry per secret."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(clock.now()) if timestamp is None else timestamp
    content = f"{msg_id}.{timestamp}.".encode() + body
    entries = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = hmac.new(key, content, hashlib.sha256).digest()
        entries.append("v1," + base64.b64encode(mac).decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(entries), "Content-Type": "application/json"}


def event(index: int = 0, **fields: Any) -> dict[str, Any]:
    """A valid webhook event; ``fields`` override or add (None removes)."""
    base = {"event_name": "purchase", "event_value": "19.99", "currency": "usd",
            "event_ts": int(clock.now()) - 60, "event_id": f"ord-{index}"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}
