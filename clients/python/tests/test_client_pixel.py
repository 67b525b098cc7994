"""``pixel_url``: the browser pixel's query, encoded as forms are."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from conversions_client import pixel_url

BASE = "https://conversions.example.com/"


def test_only_the_given_parameters_are_sent():
    assert pixel_url(BASE, "1234", "signup") == (
        "https://conversions.example.com/api/conversions/pixel"
        "?buyer_id=1234&source_type=pixel&event_name=signup")


@pytest.mark.parametrize(("value", "text"), [
    (49, "49"), (12.5, "12.5"), (Decimal("49.00"), "49.00"), ("0.10", "0.10")])
def test_values_are_written_as_given(value, text):
    assert f"&event_value={text}&" in pixel_url(BASE, "b", "purchase", event_value=value,
                                                currency="USD")


def test_a_datetime_is_written_in_iso_8601():
    url = pixel_url(BASE, "b", "purchase", event_ts=datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    assert url.endswith("&event_ts=2026-11-24T20%3A00%3A00%2B00%3A00")


def test_a_value_that_is_not_finite_is_refused():
    with pytest.raises(ValueError, match="finite"):
        pixel_url(BASE, "b", "purchase", event_value=float("inf"))
