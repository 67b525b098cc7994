"""The browser pixel: ``GET /api/conversions/pixel`` URLs (unsigned; never hold a secret)."""
from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote_plus, urlencode

from conversions_client.transport import check_base_url

PIXEL_PATH = "/api/conversions/pixel"


def _value_text(value: float | Decimal | str) -> str:
    """A number as JSON writes it (``49``, ``12.5``); text and decimals as given."""
    if isinstance(value, (str, Decimal)):
        return str(value)
    if not math.isfinite(value):
        raise ValueError("event_value must be a finite number")
    return json.dumps(value)


def _time_text(moment: int | str | datetime) -> str:
    """Unix seconds or ISO-8601 text as given; a ``datetime`` in ISO-8601."""
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


def pixel_url(base_url: str, buyer_id: str, event_name: str, *,
              event_value: float | Decimal | str | None = None, currency: str | None = None,
              event_ts: int | str | datetime | None = None, event_id: str | None = None) -> str:
    """The pixel URL of one browser event, for an ``<img src>`` or ``sendBeacon``.

    ``event_value`` (0 to 10000, at most two decimals) needs ``currency``; ``event_ts``
    defaults to when the service receives it; ``event_id`` makes a repeat count once.
    The query is encoded as ``application/x-www-form-urlencoded``, spaces as ``+``.
    """
    params = {"buyer_id": buyer_id, "source_type": "pixel", "event_name": event_name}
    if event_value is not None:
        params["event_value"] = _value_text(event_value)
    if currency is not None:
        params["currency"] = currency
    if event_ts is not None:
        params["event_ts"] = _time_text(event_ts)
    if event_id is not None:
        params["event_id"] = event_id
    return f"{check_base_url(base_url)}{PIXEL_PATH}?{urlencode(params, quote_via=quote_plus)}"
