"""Framework-free WSGI middleware: verifying HMAC-signed requests, and reading request bodies
within a deadline.

Only the generic core is exported here; it imports nothing but the standard library.
"""
from __future__ import annotations

from wsgi_hmac.body_deadline import BodyDeadline
from wsgi_hmac.hmac_auth import HmacMiddleware, KeyLookup, Route
from wsgi_hmac.schemes import (
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
