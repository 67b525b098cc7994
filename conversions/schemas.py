"""Marshmallow schemas: what each source may send, with the shared rules applied."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from marshmallow.experimental.context import Context

from conversions import rules


def limits(max_value: Any) -> Context:
    """Rule limits from configuration for loads inside ``with limits(...):`` (else defaults)."""
    return Context({"max_value": Decimal(str(max_value))})


class Money(fields.Field):
    """A JSON number (never a boolean or a string), finite, 0 to the maximum (10000 unless
    configured: ``limits``), two decimals at most."""

    def __init__(self, *, numbers_only: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers_only = numbers_only

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if self.numbers_only and (
            isinstance(value, bool) or not isinstance(value, (int, float, Decimal))
        ):
            raise ValidationError("must be a number")
        try:
            return rules.money(value, Context.get({}).get("max_value", rules.MAX_VALUE))
        except ValueError as err:
            raise ValidationError(str(err)) from None


class Currency(fields.Field):
    """An ISO 4217 code, any case, loaded upper case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return rules.currency(value)
        except ValueError as err:
            raise ValidationError(str(err)) from None


class Instant(fields.String):
    """ISO-8601 text, kept verbatim (it is signed as sent) once it is known to parse."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text and not text[:1].isdigit():
            raise ValidationError("must be an ISO-8601 date-time")
        try:
            rules.parse_instant(text)
        except (ValueError, OverflowError, OSError):
            raise ValidationError("must be an ISO-8601 date-time") from None
        return text


class GoalProperties(Schema):
    class Meta:
        unknown = RAISE

    value = Money(allow_none=True)
    currency = Currency(allow_none=True)
    plan = fields.String(allow_none=True, validate=validate.Length(max=50))


class GoalEvent(Schema):
    """The body of ``POST /api/v1/track/pixel/goal`` (SIGNING.md §1)."""

    class Meta:
        unknown = RAISE

    event_name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=64),
            validate.Predicate("isprintable", error="must not contain control characters"),
        ],
    )
    session_id = fields.String(allow_none=True, validate=validate.Length(max=128))
    properties = fields.Nested(GoalProperties, load_default=dict)
    first_touch_bucket = fields.String(allow_none=True, validate=validate.Length(max=64))
    first_touch_ts = Instant(allow_none=True, validate=validate.Length(max=64))


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested error messages as ``{"properties.value": [...], ...}``."""
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for key, inner in messages.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten(inner, name))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "$": [m.rstrip(".") for m in messages]}
    return {prefix or "$": [str(messages)]}


goal_event = GoalEvent()
