"""Alerts POSTed as JSON to ``ALERT_WEBHOOK_URL``, from a background thread with retries."""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any

log = logging.getLogger(__name__)


def _deliver(url: str, payload: dict[str, Any], attempts: int, retry_seconds: float) -> bool:
    body = json.dumps(payload).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                if 200 <= response.status < 300:
                    return True
        except OSError as err:  # includes HTTP errors and unreachable hosts
            log.warning("alert delivery failed", extra={
                "attempt": attempt, "alert": payload.get("alert"), "reason": str(err)})
        if attempt < attempts:
            time.sleep(retry_seconds * 2 ** (attempt - 1))
    log.error("alert dropped after retries", extra={"alert": payload.get("alert"),
                                                     "attempts": attempts})
    return False


def send(url: str, payload: dict[str, Any], attempts: int = 4,
         retry_seconds: float = 2.0) -> threading.Thread | None:
    """POST ``payload`` to ``url`` in a daemon thread (no URL: nothing); returns the thread."""
    if not url:
        return None
    if not url.startswith(("http://", "https://")):  # never file: or other schemes
        log.error("alert not sent: ALERT_WEBHOOK_URL must be http(s)")
        return None
    thread = threading.Thread(target=_deliver, args=(url, payload, attempts, retry_seconds),
                              name="conversions-alert", daemon=True)
    thread.start()
    return thread
