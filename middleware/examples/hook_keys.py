"""The examples' key lookup and signed routes: which client sends, and its live keys.

The keys live outside the code, in the JSON file that ``HOOK_KEYS`` names::

    {"acme": [{"id": "k2", "secret": "<base64>", "retired_at": null},
              {"id": "k1", "secret": "<base64>", "retired_at": 1796000000}]}

A key retired (its successor issued) less than ``GRACE`` seconds ago still verifies, so a
sender moves to the new key at its own pace; after that it is refused.
"""
from __future__ import annotations

import base64
import json
import os
import time

from wsgi_hmac import Failure, HeaderHmacScheme, Key, Keyring, Route, StandardWebhookScheme

GRACE = 24 * 3600
UNKNOWN_CLIENT = Failure(401, "unknown_client", "X-Client-Id names no client.")
_clients: dict[str, list[dict]] = {}  # the file as last read; replaced whole, never edited


def lookup(environ, fresh):
    """The client that ``X-Client-Id`` names and its live keys. ``fresh`` (the middleware's
    second try after a failed signature) reads the file again: a key rotated since."""
    global _clients
    if fresh or not _clients:
        with open(os.environ["HOOK_KEYS"], encoding="utf-8") as file:
            _clients = json.load(file)  # one assignment: other threads see old or new
    client = environ.get("HTTP_X_CLIENT_ID", "")
    now = time.time()
    keys = [Key(key["id"], base64.b64decode(key["secret"])) for key in _clients.get(client, [])
            if key["retired_at"] is None or now - key["retired_at"] < GRACE]
    return Keyring(client, keys, cached=not fresh) if keys else UNKNOWN_CLIENT


ROUTES = [
    # The body as sent, HMAC-SHA256, in hex in X-Signature.
    Route("/hooks/in", HeaderHmacScheme("X-Signature"), lookup, max_body=64 * 1024),
    # Standard Webhooks: webhook-id, webhook-timestamp (within 5 minutes), webhook-signature.
    Route("/hooks/webhook", StandardWebhookScheme(tolerance=300), lookup, max_body=64 * 1024),
]
