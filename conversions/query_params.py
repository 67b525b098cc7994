"""Query parameters of the read endpoints, refused with ``invalid_parameter`` when malformed."""
from __future__ import annotations

from flask import request

from conversions import rules
from conversions.errors import ApiError


def invalid(name: str, problem: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name} {problem}.", fields={name: [problem]})


def integer(name: str, default: int | None, low: int, high: int) -> int | None:
    """``?name=`` as a whole number from ``low`` to ``high`` (absent: ``default``)."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise invalid(name, f"must be a whole number from {low} to {high}")
    return int(text)


def instant_ms(name: str) -> int | None:
    """``?name=`` as ISO-8601 or Unix seconds, in Unix milliseconds (absent: None)."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return int(rules.parse_instant(text).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise invalid(name, "must be ISO-8601 or Unix seconds") from None


def text(name: str, max_length: int = 200) -> str | None:
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return value or None
