"""Query parameters of the read endpoints as marshmallow fields: a view loads its query with
a ``Query`` schema of them (``load``), the OpenAPI document describes that same schema, and a
bad parameter is a 400 naming it."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

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


class Param(fields.Field):
    """A query parameter's text; ``openapi``: its schema in the document."""

    default_error_messages = {"required": "is required"}

    def __init__(self, description: str, openapi: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(metadata={"description": description, **openapi}, **kwargs)


class TenantId(Param):
    """A tenant's UUID, in any case or form; ``load`` answers 404 when no tenant has it."""

    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(description, {"type": "string", "format": "uuid"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValidationError("must be a tenant's UUID") from None


class Choice(Param):
    def __init__(self, description: str, options: Sequence[str], **kwargs: Any) -> None:
        super().__init__(description, {"type": "string", "enum": list(options)}, **kwargs)
        self.options = tuple(options)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if value not in self.options:
            raise ValidationError("must be one of " + ", ".join(self.options))
        return str(value)


class Instant(Param):
    """ISO-8601 or Unix seconds, from 1970 to 8999; loaded as Unix ms."""

    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(description, {"type": "string"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            ms = int(rules.parse_instant(value).timestamp() * 1000)
        except (ValueError, OverflowError, OSError):
            raise ValidationError("must be ISO-8601 or Unix seconds") from None
        if not 0 <= ms < LATEST_MS:
            raise ValidationError("must be from 1970 to 8999")
        return ms


class WholeNumber(Param):
    """A whole number from ``low`` to ``high``; ``unit`` names what it counts."""

    def __init__(self, description: str, low: int, high: int, unit: str = "",
                 **kwargs: Any) -> None:
        super().__init__(description, {"type": "integer", "minimum": low, "maximum": high},
                         **kwargs)
        self.low, self.high, self.unit = low, high, unit

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        # Bounded before int(): thousands of digits cost it time, and past 4,300 it raises.
        digits = value.lstrip("0") or "0"
        if len(digits) > len(str(self.high)) or not digits.isascii() or not digits.isdigit() \
                or not self.low <= int(digits) <= self.high:
            raise ValidationError(
                f"must be a whole number{self.unit} from {self.low} to {self.high}")
        return int(digits)


def seconds(description: str, low: int, high: int, **kwargs: Any) -> WholeNumber:
    return WholeNumber(description, low, high, unit=" of seconds", **kwargs)


class Text(Param):
    """Free text of at most ``max_length`` printable characters."""

    def __init__(self, description: str, max_length: int = 200, **kwargs: Any) -> None:
        super().__init__(description, {"type": "string", "maxLength": max_length}, **kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if len(value) > self.max_length:
            raise ValidationError(f"must be at most {self.max_length} characters")
        if not value.isprintable():
            raise ValidationError("must not contain control characters")
        return str(value)


class Flag(Param):
    """true or false (1 or 0), any case."""

    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(description, {"type": "boolean"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        text = value.lower()
        if text not in ("true", "false", "1", "0"):
            raise ValidationError("must be true or false")
        return text in ("true", "1")


class Query(Schema):
    """A query string of ``Param`` fields: spaces around a value stripped, a blank parameter
    absent, unknown parameters ignored."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _present(self, data: Any, **kwargs: Any) -> dict[str, str]:
        return {name: value.strip() for name, value in data.items() if value.strip()}


@cache
def _instance(query: type[Query]) -> Query:
    return query()


def load(query: type[Query]) -> dict[str, Any]:
    """The request's query, loaded by a ``query`` schema: the first bad parameter in the
    schema's order is a 400 naming it, and a tenant no one has (``TenantId``) a 404."""
    schema = _instance(query)
    try:
        data, problems = schema.load(request.args), {}
    except ValidationError as err:
        data, problems = err.valid_data or {}, err.messages
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key in problems:
            raise invalid(key, problems[key][0])  # type: ignore[index]
        if isinstance(field, TenantId) and name in data \
                and not Tenant.select().where(Tenant.id == data[name]).exists():
            raise ApiError(404, "unknown_tenant", "No tenant has this id.", parameter=key)
    return data  # type: ignore[no-any-return]


def tenant_id(description: str = "The tenant's UUID.", required: bool = True) -> TenantId:
    return TenantId(description, required=required)


def granularity() -> Choice:
    """The ``granularity`` field (absent: the views take hour)."""
    return Choice("Period length.", tuple(GRANULARITIES))


def source_type() -> Choice:
    return Choice("Only this source.", NAMES)


def period_range(query: dict[str, Any], granularity: str) -> tuple[int, int]:
    """A loaded query's ``from`` (its ``from_``) and ``to`` widened to whole periods:
    ``[from, to)``, ``to`` defaulting to now."""
    end = query.get("to")
    end = ceil(clock.now_ms() if end is None else end, granularity)
    start = query.get("from_")
    start = floor(end - DEFAULT_RANGE_MS[granularity] if start is None else start, granularity)
    if start >= end:
        raise invalid("from", "must be before to")
    if end - start > MAX_RANGE_MS[granularity]:
        days = MAX_RANGE_MS[granularity] // DAY_MS
        raise invalid("from", f"the range may cover at most {days} days at this granularity")
    return start, end
