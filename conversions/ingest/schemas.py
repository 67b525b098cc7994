"""Marshmallow schemas: what each source may send, with the shared rules applied."""
from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from typing import Any

from flask import current_app
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from conversions.core import canonical, clock, money, rules, zoned_times
from conversions.store.models import STATUSES
from conversions.web import openapi

# Plain marshmallow fields, their validators run by marshmallow through its public
# ``validate=``: the private override that chained them once saved a pixel about 2.5 us
# (under 1 % of its CPU), not worth a break on a minor release (docs/performance.md).
Text = fields.String
Nested = fields.Nested


@openapi.field_type("number")
class Money(fields.Field):
    """A JSON number (never a boolean or a string), finite, 0 to ``MAX_EVENT_VALUE`` (10000
    unless configured), two decimals at most."""

    def __init__(self, *, numbers_only: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers_only = numbers_only

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if self.numbers_only and (
            isinstance(value, bool) or not isinstance(value, (int, float, Decimal))
        ):
            raise ValidationError("must be a number")
        try:
            maximum = current_app.config.get("MAX_EVENT_VALUE", money.MAX_VALUE)
            return money.parse(value, Decimal(str(maximum)))
        except ValueError as err:
            raise ValidationError(str(err)) from None


@openapi.field_type("string")
class Currency(fields.Field):
    """An ISO 4217 code, any case, loaded upper case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return rules.currency(value)
        except ValueError as err:
            raise ValidationError(str(err)) from None


class Instant(Text):
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


# Stored as text columns: a control character (NUL above all, which PostgreSQL cannot store)
# is refused like a bad value.
_printable = validate.Predicate("isprintable", error="must not contain control characters")


class GoalProperties(Schema):
    class Meta:
        unknown = RAISE

    value = Money(allow_none=True)
    currency = Currency(allow_none=True)
    plan = Text(allow_none=True, validate=validate.Length(max=50))


class GoalEvent(Schema):
    """The body of ``POST /api/v1/track/pixel/goal`` (docs/signing.md §1)."""

    class Meta:
        unknown = RAISE

    event_name = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=64),
            validate.Predicate("isprintable", error="must not contain control characters"),
        ],
    )
    session_id = Text(allow_none=True, validate=[validate.Length(max=128), _printable])
    properties = Nested(GoalProperties, load_default=dict)
    first_touch_bucket = Text(allow_none=True,
                                       validate=[validate.Length(max=64), _printable])
    first_touch_ts = Instant(allow_none=True, validate=validate.Length(max=64))


@openapi.field_type("string")
class EventTime(fields.Field):
    """ISO-8601 text or Unix seconds, within the configured age and skew; loaded as Unix ms."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValidationError("must be ISO-8601 or Unix seconds")
        try:
            moment = rules.parse_instant(str(value))
        except (ValueError, OverflowError, OSError):
            raise ValidationError("must be ISO-8601 or Unix seconds") from None
        config = current_app.config
        try:
            return rules.event_time_ms(moment, clock.now(), float(config["EVENT_MAX_AGE_SECONDS"]),
                                       float(config["EVENT_MAX_FUTURE_SECONDS"]))
        except ValueError as err:
            raise ValidationError(str(err)) from None


def _event_name(value: str) -> None:
    if not rules.EVENT_NAME.fullmatch(value):
        raise ValidationError("must be 1 to 64 letters, digits or _ . : -")


MAX_PROPERTIES = 16 * 1024


class JsonText(fields.Dict):
    """A JSON object, loaded as the compact JSON text it is stored as (at most
    ``MAX_PROPERTIES`` characters): rendered once, for the check and the row alike."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        mapping = super()._deserialize(value, attr, data, **kwargs)
        try:
            text = canonical.json_text(mapping)
            text.encode()
        except (UnicodeEncodeError, TypeError, ValueError):
            raise ValidationError("must be valid Unicode JSON") from None
        if len(text) > MAX_PROPERTIES:
            raise ValidationError(f"must be at most {MAX_PROPERTIES} characters as JSON")
        return text


class Conversion(Schema):
    """What a pixel and a webhook event share; a value needs its currency."""

    event_name = Text(required=True, validate=_event_name)
    event_value = Money(numbers_only=False, allow_none=True, load_default=None)
    currency = Currency(allow_none=True, load_default=None)
    event_id = Text(
        allow_none=True, load_default=None,
        validate=[validate.Length(min=1, max=128),
                  validate.Predicate("isprintable", error="must be printable text")],
    )

    CURRENCY_NEEDED = "is required with event_value"

    @validates_schema
    def _currency_with_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("event_value") is not None and not data.get("currency"):
            raise ValidationError(self.CURRENCY_NEEDED, "currency")


class PixelEvent(Conversion):
    """The parameters of ``/api/conversions/pixel`` (docs/api.md); others are ignored."""

    class Meta:
        unknown = EXCLUDE

    buyer_id = Text(required=True, validate=validate.Length(min=1, max=64))
    source_type = Text(load_default="pixel", validate=validate.Equal("pixel"))
    event_ts = EventTime(load_default=None)


class WebhookEvent(Conversion):
    """One event of a webhook body, alone or in ``{"events": [...]}``."""

    class Meta:
        unknown = RAISE

    event_ts = EventTime(required=True)
    # A parsed JSON object's keys are text already: no key field to run on each.
    properties = JsonText(allow_none=True, load_default=None)


class PostbackEvent(Conversion):
    """A provider's postback as read by ``core/postback_providers.py``."""

    class Meta:
        unknown = RAISE

    event_ts = EventTime(load_default=None)
    status = Text(load_default=None, validate=validate.OneOf(
        STATUSES, error="must be one of Approved, Pending, Declined, Other"))
    click_id = Text(load_default=None,
                             validate=[validate.Length(min=1, max=128), _printable])


class ZonedTime(fields.Field):
    """A CSV cell's time, read in its file's zone (``core.zoned_times``) and within the
    import's bounds; loaded as Unix ms."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        row = self.root
        assert isinstance(row, ImportedRow)
        try:
            moment = zoned_times.read(str(value), row.zone, row.strict_times)
            return rules.event_time_ms(moment, row.now, row.max_age, row.max_future)
        except (ValueError, OverflowError, OSError) as err:
            raise ValidationError(str(err)) from None


class ImportedRow(Conversion):
    """A row of an offline CSV import (``ingest/csv_import.py``): the live events' rules on
    its cells (text, blank ones absent), its time read in the file's zone."""

    class Meta:
        unknown = RAISE

    CURRENCY_NEEDED = "is required with a value"

    event_value = Money(numbers_only=False, allow_none=True, load_default=None,
                        data_key="value")
    event_ts = ZonedTime(required=True)
    click_id = Text(load_default=None, validate=[validate.Length(min=1, max=128), _printable])

    def __init__(self, zone: tzinfo, strict_times: bool, now: float, max_age: float,
                 max_future: float) -> None:
        super().__init__()
        self.zone, self.strict_times = zone, strict_times
        self.now, self.max_age, self.max_future = now, max_age, max_future


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
pixel_event = PixelEvent()
webhook_event = WebhookEvent()
postback_event = PostbackEvent()
