"""Framework-free WSGI middleware that verifies HMAC-signed requests.

Only the generic core is exported here; it imports nothing but the standard library.
"""
from __future__ import annotations

from middleware.hmac_auth import HmacMiddleware, KeyLookup, Route
from middleware.schemes import (
    Failure,
    HeaderHmacScheme,
    Key,
    Keyring,
    StandardWebhookScheme,
    Verified,
)

__all__ = [
    "Failure",
    "HeaderHmacScheme",
    "HmacMiddleware",
    "Key",
    "KeyLookup",
    "Keyring",
    "Route",
    "StandardWebhookScheme",
    "Verified",
]
