"""Helpers of the property tests: signing and posting goals as a client would."""
from __future__ import annotations

import hashlib
import hmac

from conversions.core import canonical

GOAL = "/api/v1/track/pixel/goal?domain=shop.example.com"
SIGNATURE_ERRORS = {"missing_signature", "invalid_signature"}


def mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def post(client, body: bytes, signature: str):
    return client.post(GOAL, data=body, headers={"Content-Type": "application/json",
                                                 "X-LP-Goal-Signature": signature})


def server_verifies(body: bytes, signature: str, tenant_id: str, secret: bytes) -> bool:
    """The service's own check: a MAC over one of the canonical renderings of ``body``."""
    renderings = canonical.renderings(canonical.parse_body(body), tenant_id)
    return any(hmac.compare_digest(mac(secret, r), signature) for r in renderings)
