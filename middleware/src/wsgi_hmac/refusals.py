"""A refusal answered by a middleware itself: ``{"error": code, "message": text}`` as JSON."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from wsgi_hmac.schemes import Failure

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def refuse(start_response: StartResponse, failure: Failure) -> list[bytes]:
    body = json.dumps({"error": failure.error, "message": failure.message}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *failure.headers,
    ]
    start_response(f"{failure.status} {_REASONS.get(failure.status, 'Error')}", headers)
    return [body]
