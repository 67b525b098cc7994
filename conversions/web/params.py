"""Query parameters of the read endpoints: parsed, or a 400 naming the parameter."""
from __future__ import annotations

import uuid

from flask import request

from conversions.core import clock, rules
from conversions.core.periods import DAY_MS, GRANULARITIES, ceil, floor
from conversions.core.sources import NAMES
from conversions.store.models import Tenant
from conversions.web.errors import ApiError

# The longest range a read may cover, per granularity, so one request stays cheap.
MAX_RANGE_MS = {"hour": 31 * DAY_MS, "day": 400 * DAY_MS}
DEFAULT_RANGE_MS = {"hour": DAY_MS, "day": 30 * DAY_MS}
# Instants a read may name: from 1970 to before 9000, so that ranges around them (widened to
# whole periods, or a default span before them) still render as ISO-8601 dates.
LATEST_MS = 221_845_392_000_000  # 9000-01-01T00:00:00Z


def invalid(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", parameter=name)


def tenant_id(required: bool = True) -> str | None:
    """``tenant_id``: a registered tenant's UUID (404 ``unknown_tenant`` when unknown)."""
    text = request.args.get("tenant_id", "").strip()
    if not text:
        if required:
            raise invalid("tenant_id", "is required")
        return None
    try:
        text = str(uuid.UUID(text))
    except ValueError:
        raise invalid("tenant_id", "must be a tenant's UUID") from None
    if not Tenant.select().where(Tenant.id == text).exists():
        raise ApiError(404, "unknown_tenant", "No tenant has this id.", parameter="tenant_id")
    return text


def choice(name: str, options: tuple[str, ...], default: str | None) -> str | None:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if text not in options:
        raise invalid(name, "must be one of " + ", ".join(options))
    return text


def source_type() -> str | None:
    return choice("source_type", NAMES, None)


def granularity() -> str:
    return choice("granularity", tuple(GRANULARITIES), "hour") or "hour"


def instant_ms(name: str) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        ms = int(rules.parse_instant(text).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise invalid(name, "must be ISO-8601 or Unix seconds") from None
    if not 0 <= ms < LATEST_MS:
        raise invalid(name, "must be from 1970 to 8999")
    return ms


def period_range(granularity: str) -> tuple[int, int]:
    """``from`` and ``to`` widened to whole periods: ``[from, to)``, ``to`` defaulting to now."""
    end = instant_ms("to")
    end = ceil(clock.now_ms() if end is None else end, granularity)
    start = instant_ms("from")
    start = floor(end - DEFAULT_RANGE_MS[granularity] if start is None else start, granularity)
    if start >= end:
        raise invalid("from", "must be before to")
    if end - start > MAX_RANGE_MS[granularity]:
        days = MAX_RANGE_MS[granularity] // DAY_MS
        raise invalid("from", f"the range may cover at most {days} days at this granularity")
    return start, end


def seconds(name: str, default: int, low: int, high: int) -> int:
    """``name``: a whole number of seconds from ``low`` to ``high`` (absent: ``default``)."""
    return integer(name, default, low, high, unit=" of seconds")  # type: ignore[return-value]


def integer(name: str, default: int | None, low: int, high: int, unit: str = "") -> int | None:
    """``name``: a whole number from ``low`` to ``high`` (absent: ``default``)."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    # Bounded before int(): thousands of digits cost it time, and past 4,300 it raises.
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(high)) or not digits.isascii() or not digits.isdigit() \
            or not low <= int(digits) <= high:
        raise invalid(name, f"must be a whole number{unit} from {low} to {high}")
    return int(digits)


def text(name: str, max_length: int = 200) -> str | None:
    """``name`` as free text of at most ``max_length`` characters (absent: None)."""
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    if not value.isprintable():
        raise invalid(name, "must not contain control characters")
    return value or None
