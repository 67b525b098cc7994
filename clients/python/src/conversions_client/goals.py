"""Signed goals: ``POST /api/v1/track/pixel/goal?domain=...`` with ``X-LP-Goal-Signature``."""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from conversions_client.canonical import canonical_goal, dumps
from conversions_client.transport import DEFAULT_TIMEOUT, Response, check_base_url, post

GOAL_PATH = "/api/v1/track/pixel/goal"
SIGNATURE_HEADER = "X-LP-Goal-Signature"


@dataclass(frozen=True)
class SignedGoal:
    """A goal ready to send: post ``body`` verbatim with ``headers``."""

    body: bytes
    signature: str
    canonical: bytes

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and the signature header."""
        return {"Content-Type": "application/json", SIGNATURE_HEADER: self.signature}


def pixel_key(pixel_secret: str) -> bytes:
    """The HMAC key: the 32 bytes the 64 hex characters of the pixel secret stand for."""
    try:
        key = bytes.fromhex(pixel_secret)
    except (TypeError, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError("pixel_secret must be the 64 hex characters `tenant create` printed")
    return key


def goal_body(event_name: str, session_id: str | None = None, *, value: float | None = None,
              currency: str | None = None, plan: str | None = None,
              first_touch_bucket: str | None = None,
              first_touch_ts: str | None = None) -> dict[str, Any]:
    """The JSON object a goal sends; arguments left as None are left out."""
    if value is not None and not math.isfinite(value):
        raise ValueError("value must be a finite number")
    properties = {name: given for name, given in
                  (("value", value), ("currency", currency), ("plan", plan)) if given is not None}
    body: dict[str, Any] = {"event_name": event_name}
    if session_id is not None:
        body["session_id"] = session_id
    body["properties"] = properties
    for name, given in (("first_touch_bucket", first_touch_bucket),
                        ("first_touch_ts", first_touch_ts)):
        if given is not None:
            body[name] = given
    return body


def sign_goal(tenant_id: str, pixel_secret: str, event_name: str,
              session_id: str | None = None, *, value: float | None = None,
              currency: str | None = None, plan: str | None = None,
              first_touch_bucket: str | None = None, first_touch_ts: str | None = None,
              escape_non_ascii: bool = True) -> SignedGoal:
    """Sign a goal of tenant ``tenant_id`` with its ``pixel_secret`` (64 hex characters).

    ``value`` is a number (0 to 10000, at most two decimals), ``currency`` an ISO 4217 code,
    ``plan`` at most 50 characters; ``first_touch_ts`` is ISO-8601 text, signed as given.
    ``escape_non_ascii=False`` signs and sends non-ASCII text as raw UTF-8 instead of
    ``\\u`` escapes; the service accepts either.
    """
    key = pixel_key(pixel_secret)
    body = goal_body(event_name, session_id, value=value, currency=currency, plan=plan,
                     first_touch_bucket=first_touch_bucket, first_touch_ts=first_touch_ts)
    canonical = canonical_goal(body, tenant_id, escape_non_ascii=escape_non_ascii)
    return SignedGoal(
        body=dumps(body, sort_keys=False, escape_non_ascii=escape_non_ascii),
        signature=hmac.new(key, canonical, hashlib.sha256).hexdigest(),
        canonical=canonical,
    )


def goal_url(base_url: str, domain: str) -> str:
    """Where a goal of the tenant registered for ``domain`` is sent."""
    return f"{check_base_url(base_url)}{GOAL_PATH}?{urlencode({'domain': domain})}"


def send_goal(base_url: str, domain: str, tenant_id: str, pixel_secret: str, event_name: str,
              session_id: str | None = None, *, value: float | None = None,
              currency: str | None = None, plan: str | None = None,
              first_touch_bucket: str | None = None, first_touch_ts: str | None = None,
              escape_non_ascii: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Response:
    """Sign a goal as ``sign_goal`` does and POST it to the service at ``base_url``.

    Returns the answer whatever its status: 202 stored, 200 a duplicate (stored before),
    4xx a refusal whose ``error`` says why (docs/signing.md).
    """
    signed = sign_goal(tenant_id, pixel_secret, event_name, session_id, value=value,
                       currency=currency, plan=plan, first_touch_bucket=first_touch_bucket,
                       first_touch_ts=first_touch_ts, escape_non_ascii=escape_non_ascii)
    return post(goal_url(base_url, domain), signed.body, signed.headers, timeout)
