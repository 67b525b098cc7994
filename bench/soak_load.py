"""Steady signed traffic: one request per tick, each a new event, retried as a client would."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

Request = tuple[str, str, bytes | None, dict[str, str]]  # method, path+query, body, headers


@dataclass
class Attempt:
    started: float
    ended: float
    status: int  # 0: the connection failed (a killed worker)
    retry_after: bool


# Events in each webhook delivery: the soak's webhooks are batches.
BATCH = 5


@dataclass
class Sent:
    source: str
    marker: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return any(200 <= a.status < 300 for a in self.attempts)

    @property
    def keys(self) -> list[tuple[str, str]]:
        """``(source, marker)`` of every event the request carries."""
        if self.source == "webhook":
            return [(self.source, f"{self.marker}.{n}") for n in range(BATCH)]
        return [(self.source, self.marker)]


def goal(tenant: dict[str, Any], marker: str) -> Request:
    """A signed goal whose ``session_id`` is the marker (its canonical form is unique)."""
    canonical = json.dumps({"event_name": "soak", "properties": {"value": "1.50"},
                            "session_id": marker, "tenant_id": tenant["tenant_id"]},
                           sort_keys=True, separators=(",", ":")).encode()
    body = json.dumps({"event_name": "soak", "session_id": marker,
                       "properties": {"value": 1.5}}).encode()
    signature = hmac.new(bytes.fromhex(tenant["pixel_secret"]), canonical,
                         hashlib.sha256).hexdigest()
    return ("POST", f"/api/v1/track/pixel/goal?domain={tenant['domain']}", body,
            {"Content-Type": "application/json", "X-LP-Goal-Signature": signature})


def pixel(tenant: dict[str, Any], marker: str) -> Request:
    """A browser pixel hit whose ``event_id`` is the marker."""
    query = urlencode({"buyer_id": tenant["buyer_id"], "event_name": "soak", "event_id": marker,
                       "event_value": "1.50", "currency": "USD"})
    return ("GET", f"/api/conversions/pixel?{query}", None, {})


def webhook(tenant: dict[str, Any], marker: str) -> Request:
    """A Standard Webhooks delivery of a batch whose events' ``event_id`` are ``marker.N``."""
    body = json.dumps({"events": [
        {"event_name": "soak", "event_id": f"{marker}.{n}", "event_value": 1.5,
         "currency": "USD", "event_ts": int(time.time())} for n in range(BATCH)]}).encode()
    message_id, timestamp = f"msg_{marker}", str(int(time.time()))
    key = base64.b64decode(tenant["webhook_secret"].removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return ("POST", f"/api/conversions/webhook?tenant_id={tenant['tenant_id']}", body,
            {"Content-Type": "application/json", "webhook-id": message_id,
             "webhook-timestamp": timestamp,
             "webhook-signature": "v1," + base64.b64encode(mac).decode()})


SOURCES: dict[str, Callable[[dict[str, Any], str], Request]] = {
    "goal": goal, "pixel": pixel, "webhook": webhook,
}


def send(port: int, sent: Sent, request: Request, retries: int = 6) -> Sent:
    """Send until 2xx or a final refusal; wait Retry-After on 503, a moment on a reset."""
    method, path, body, headers = request
    for _ in range(retries):
        started = time.time()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            status, retry_after = response.status, response.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            status, retry_after = 0, None
        sent.attempts.append(Attempt(started, time.time(), status, retry_after is not None))
        if status == 503:
            time.sleep(min(float(retry_after or 1), 2.0))
        elif status == 0:
            time.sleep(0.2)
        else:
            break
    return sent


def run(port: int, tenant: dict[str, Any], seconds: float, rate: float, threads: int,
        at: Callable[[float], None]) -> list[Sent]:
    """``rate`` requests a second for ``seconds``, round-robin over the sources.

    ``at(elapsed)`` is called every tick so faults can be started on schedule.
    """
    names = list(SOURCES)
    futures = []
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for tick in range(int(seconds * rate)):
            delay = start + tick / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            at(time.monotonic() - start)
            source = names[tick % len(names)]
            marker = f"soak-{uuid.uuid4()}"
            request = SOURCES[source](tenant, marker)
            futures.append(pool.submit(send, port, Sent(source, marker), request))
    return [future.result() for future in futures]
