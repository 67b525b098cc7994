"""Standard Webhooks deliveries: ``POST /api/conversions/webhook``, one event or a batch."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from conversions_client.canonical import dumps
from conversions_client.transport import DEFAULT_TIMEOUT, Response, check_base_url, post

WEBHOOK_PATH = "/api/conversions/webhook"
Events = Mapping[str, Any] | Sequence[Mapping[str, Any]] | bytes | str


@dataclass(frozen=True)
class SignedWebhook:
    """A delivery ready to send: post ``body`` verbatim with ``headers``."""

    body: bytes
    headers: dict[str, str]
    msg_id: str
    timestamp: int


def webhook_key(webhook_secret: str) -> bytes:
    """The HMAC key: the bytes whose base64 follows ``whsec_`` in the webhook secret."""
    try:
        key = base64.b64decode(webhook_secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("webhook_secret must be the whsec_... text `tenant create` printed")
    return key


def webhook_body(events: Events) -> bytes:
    """The raw body: bytes or text as given, one event as its object, a list as a batch."""
    if isinstance(events, bytes):
        return events
    if isinstance(events, str):
        return events.encode("utf-8")
    if isinstance(events, Mapping):
        return dumps(events, sort_keys=False, escape_non_ascii=False)
    return dumps({"events": list(events)}, sort_keys=False, escape_non_ascii=False)


def webhook_signature(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` entry per secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(webhook_key(secret), content, hashlib.sha256)
                                 .digest()).decode()
        for secret in secrets)


def sign_webhook(webhook_secret: str | Sequence[str], events: Events, *,
                 msg_id: str | None = None, timestamp: int | None = None) -> SignedWebhook:
    """Sign a delivery with the tenant's webhook secret (``whsec_`` + base64).

    ``events``: one event (a mapping), a batch (a list of them, sent as ``{"events": [...]}``)
    or a body already serialised (bytes or text, signed exactly as given). Several secrets
    (during a rotation) give several ``v1,`` entries. ``msg_id`` defaults to a new random id:
    pass the same one to retry a delivery, so the service stores it once. ``timestamp``
    (Unix seconds) defaults to now; the service refuses one more than 5 minutes off.
    """
    secrets = [webhook_secret] if isinstance(webhook_secret, str) else list(webhook_secret)
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    body = webhook_body(events)
    msg_id = f"msg_{uuid.uuid4().hex}" if msg_id is None else msg_id
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(secrets, msg_id, timestamp, body),
    }
    return SignedWebhook(body=body, headers=headers, msg_id=msg_id, timestamp=timestamp)


def webhook_url(base_url: str, *, buyer_id: str | None = None,
                tenant_id: str | None = None) -> str:
    """Where a delivery for the tenant named by ``buyer_id`` or ``tenant_id`` is sent."""
    if (buyer_id is None) == (tenant_id is None):
        raise ValueError("name the tenant with exactly one of buyer_id and tenant_id")
    query = {"buyer_id": buyer_id} if buyer_id is not None else {"tenant_id": tenant_id}
    return f"{check_base_url(base_url)}{WEBHOOK_PATH}?{urlencode(query)}"


def send_webhook(base_url: str, webhook_secret: str | Sequence[str], events: Events, *,
                 buyer_id: str | None = None, tenant_id: str | None = None,
                 msg_id: str | None = None, timestamp: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> Response:
    """Sign a delivery as ``sign_webhook`` does and POST it for the tenant named by
    ``buyer_id`` or ``tenant_id``. Returns the answer whatever its status."""
    url = webhook_url(base_url, buyer_id=buyer_id, tenant_id=tenant_id)
    signed = sign_webhook(webhook_secret, events, msg_id=msg_id, timestamp=timestamp)
    return post(url, signed.body, signed.headers, timeout)
