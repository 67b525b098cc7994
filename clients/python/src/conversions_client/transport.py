"""One HTTP request with the standard library, and the service's answer to it."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Response:
    """The service's answer: every status is returned, refusals included (check ``ok``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the service accepted the request (2xx; 200 for a duplicate)."""
        return 200 <= self.status < 300

    @property
    def error(self) -> str | None:
        """The stable ``error`` code of a refusal (``invalid_signature``, ...), else None."""
        if self.ok:
            return None
        try:
            answer = self.json()
        except ValueError:
            return None
        return answer.get("error") if isinstance(answer, dict) else None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; refuses anything but http(s)."""
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
    return base_url.rstrip("/")


def post(url: str, body: bytes, headers: Mapping[str, str],
         timeout: float = DEFAULT_TIMEOUT) -> Response:
    """POST ``body``; network failures raise ``OSError`` (``urllib.error.URLError``)."""
    # S310: every URL here was made by check_base_url, so only http and https are opened.
    request = urllib.request.Request(url, data=body, headers=dict(headers),  # noqa: S310
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return Response(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return Response(refused.code, dict(refused.headers), refused.read())
