"""Framework-free WSGI middleware: verifying HMAC-signed requests, and reading request bodies
within a deadline.

Only the generic core is exported here; it imports nothing but the standard library.
"""
from __future__ import annotations

from middleware.body_deadline import BodyDeadline
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
    "BodyDeadline",
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
