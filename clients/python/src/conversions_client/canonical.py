"""The canonical form of a goal: the exact bytes its signature covers (docs/signing.md)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FIRST_TOUCH_FIELDS = ("first_touch_bucket", "first_touch_ts")


def two_decimals(value: Any) -> Any:
    """``properties.value`` as it is signed: the number as text with two decimals.

    ``99`` and ``99.0`` both become ``"99.00"``. Anything that is not a number is signed as
    it is (the service refuses it afterwards, but the signature still verifies).
    """
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return f"{number:.2f}"


def signed_payload(body: Mapping[str, Any], tenant_id: str) -> dict[str, Any]:
    """The object that is serialised and signed for a goal ``body`` of tenant ``tenant_id``."""
    properties = body.get("properties")
    if isinstance(properties, Mapping):
        properties = dict(properties)
        if properties.get("value") is not None:
            properties["value"] = two_decimals(properties["value"])
    elif not properties:
        properties = {}
    payload = {
        "event_name": body.get("event_name"),
        "properties": properties,
        "session_id": body.get("session_id") or "",
        "tenant_id": tenant_id,
    }
    for name in FIRST_TOUCH_FIELDS:
        if body.get(name):  # absent, null and "" are all left out
            payload[name] = body[name]
    return payload


def dumps(obj: Any, *, sort_keys: bool, escape_non_ascii: bool) -> bytes:
    """Compact JSON as UTF-8 bytes: non-ASCII as ``\\u`` escapes, or raw.

    Raw UTF-8 cannot carry a lone surrogate (half of an astral character), so that is refused;
    the escaped form can.
    """
    text = json.dumps(obj, sort_keys=sort_keys, separators=(",", ":"),
                      ensure_ascii=escape_non_ascii, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text with a lone surrogate cannot be sent as raw UTF-8; "
                         "use escape_non_ascii=True") from None


def canonical_goal(body: Mapping[str, Any], tenant_id: str, *,
                   escape_non_ascii: bool = True) -> bytes:
    """The bytes to sign for a goal ``body`` (the parsed JSON object that is sent).

    Keys sorted at every level, no spaces, ``properties.value`` as a two-decimal string,
    ``session_id`` ``""`` when absent, ``tenant_id`` added, first-touch fields only when
    non-empty. ``escape_non_ascii``: write non-ASCII as ``\\u00e9`` (the default, pure
    ASCII) or as raw UTF-8; the service accepts a signature over either.
    """
    return dumps(signed_payload(body, tenant_id), sort_keys=True,
                 escape_non_ascii=escape_non_ascii)
