"""Pre-built requests for ``lua/replay.lua``: one a line, every one distinct and signed.

A line is ``METHOD<TAB>PATH<TAB>Header: value<US>Header: value<TAB>BODY``. Goals are
signed with the project's Python client (``clients/python``), as a sender would sign them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conversions_client import sign_goal

from bench.apps import RAW_HEADER, RAW_PATH, RAW_SECRET

GOAL_PATH = "/api/v1/track/pixel/goal"
WEBHOOK_PATH = "/api/conversions/webhook"
# Distinguishes this run's idempotency keys and sessions from any earlier run's.
TAG_SAFE = uuid.uuid4().hex[:8]


def line(method: str, path: str, headers: dict[str, str], body: str) -> str:
    head = "\x1f".join(f"{name}: {value}" for name, value in headers.items())
    return f"{method}\t{path}\t{head}\t{body}\n"


def goals(tenant_id: str, secret_hex: str, domain: str, count: int, tag: str) -> Iterator[str]:
    """``count`` distinct goals (each its own session), signed with the tenant's pixel secret."""
    first_touch = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = f"{GOAL_PATH}?domain={domain}"
    for index in range(count):
        signed = sign_goal(
            tenant_id, secret_hex, "purchase", f"{tag}-{index}", value=49.99, currency="USD",
            plan="pro", first_touch_bucket="ai_search", first_touch_ts=first_touch)
        yield line("POST", path, signed.headers, signed.body.decode())


def webhooks(tenant_id: str, whsec: str, count: int, size: int, tag: str) -> Iterator[str]:
    """``count`` Standard Webhooks deliveries of ``size`` distinct events each, signed now."""
    from standardwebhooks import Webhook

    signer = Webhook(whsec)
    now = datetime.now(UTC)
    event_ts = int(now.timestamp()) - 60
    path = f"{WEBHOOK_PATH}?tenant_id={tenant_id}"
    for index in range(count):
        body = json.dumps({"events": [
            {"event_name": "purchase", "event_value": "19.99", "currency": "USD",
             "event_ts": event_ts, "event_id": f"{tag}-{index}-{n}", "properties": {"plan": "pro"}}
            for n in range(size)]})
        msg_id = f"msg-{tag}-{index}"
        yield line("POST", path, {
            "Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body)}, body)


def raw() -> str:
    """The one signed request of the middleware-overhead pair (``bench/apps.py``)."""
    body = json.dumps({"event_name": "purchase", "event_value": "12.50", "currency": "USD"})
    signature = hmac.new(RAW_SECRET, body.encode(), hashlib.sha256).hexdigest()
    return line("POST", RAW_PATH, {"Content-Type": "application/json", RAW_HEADER: signature},
                body)


def write(path: Path, lines: Iterator[str] | list[str]) -> Path:
    with open(path, "w") as out:
        out.writelines(lines)
    return path
