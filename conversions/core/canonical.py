"""The canonical form of a goal event: the exact bytes its sender signed (docs/signing.md §1)."""
from __future__ import annotations

import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


class NotJson(ValueError):
    """The body is not a JSON object."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> dict[str, Any]:
    """Parse a goal body, keeping numbers exact (decimals as ``Decimal``)."""
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise NotJson("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise NotJson("The body must be a JSON object.")
    return data


def _value_renderings(value: Any) -> list[Any]:
    """``properties.value`` as each reference client renders it (two decimals, as text).

    Python's ``format(float, ".2f")`` rounds a tie to even; JavaScript's ``toFixed`` away from
    zero. Only a value with more than two decimals can differ, and the rules refuse those
    later, but the signature is checked first and must not depend on which client signed.
    """
    if isinstance(value, (bool, int, float, Decimal, str)):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return [value]
        python = f"{number:.2f}"
        if number != number or abs(number) >= 1e21:  # NaN, infinite, or past toFixed's range
            return [python]
        try:
            node = str(Decimal(number).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        except InvalidOperation:  # too many digits for two decimals: the rules refuse it
            return [python]
        return [python] if node == python else [python, node]
    return [value]


def payload(body: dict[str, Any], tenant_id: str, value: Any = None) -> dict[str, Any]:
    """The object that is serialised and signed, for one rendering of ``value``."""
    properties = body.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else (properties or {})
    if isinstance(properties, dict) and properties.get("value") is not None:
        properties["value"] = value
    signed = {
        "event_name": body.get("event_name"),
        "properties": properties,
        "session_id": body.get("session_id") or "",
        "tenant_id": tenant_id,
    }
    for name in ("first_touch_bucket", "first_touch_ts"):
        if body.get(name):
            signed[name] = body[name]
    return signed


def _decimal_as_number(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return float(obj)
    raise TypeError(type(obj).__name__)


# The encoders, made once: ``json.dumps`` with options builds a new one every call.
_SIGNED = {ensure_ascii: json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                          ensure_ascii=ensure_ascii, default=_decimal_as_number)
           for ensure_ascii in (False, True)}
_STORED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_decimal_as_number)


def _dumps(obj: Any, ensure_ascii: bool) -> bytes:
    text = _SIGNED[ensure_ascii].encode(obj)
    return text.encode("utf-8", "surrogatepass") if not ensure_ascii else text.encode()


def json_text(obj: Any) -> str:
    """Compact JSON text for storage, with non-ASCII kept as is."""
    return _STORED.encode(obj)


def renderings(body: dict[str, Any], tenant_id: str) -> list[bytes]:
    """Every byte string a documented client may have signed for ``body``.

    The Python client escapes non-ASCII (``\\u00e9``), the Node client writes it as UTF-8;
    both are the same payload, so a signature over either is accepted.
    """
    properties = body.get("properties")
    raw_value = properties.get("value") if isinstance(properties, dict) else None
    values = _value_renderings(raw_value) if raw_value is not None else [None]
    out: list[bytes] = []
    for value in values:
        signed = payload(body, tenant_id, value)
        try:
            raw = _dumps(signed, False)
            # Without non-ASCII (or DEL, which only the escaping form escapes) both are equal.
            escaped = raw if raw.isascii() and b"\x7f" not in raw else _dumps(signed, True)
        except (TypeError, ValueError, RecursionError):
            continue
        for rendering in (escaped, raw):
            if rendering not in out:
                out.append(rendering)
    return out


def digest(body: dict[str, Any], tenant_id: str, rendered: list[bytes] | None = None) -> str:
    """A stable fingerprint of the signed payload, the same for every client's rendering.

    ``rendered``: ``renderings(body, tenant_id)`` when the caller has them already.
    """
    first = renderings(body, tenant_id) if rendered is None else rendered
    return hashlib.sha256(first[0] if first else b"").hexdigest()
