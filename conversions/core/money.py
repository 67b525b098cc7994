"""Money: amounts as sent (parsed, bounded, two decimals at most), stored as integer
hundredths, and shown as text with two decimals."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_VALUE = Decimal(10000)
# ISO 4217's code for "no currency": how figures name revenue sent without one.
NO_CURRENCY = "XXX"
# A decimal written as text: ASCII digits, an optional sign, point and exponent.
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)


def parse(value: Any, maximum: Decimal = MAX_VALUE) -> Decimal:
    """A money amount: a finite number from 0 to ``maximum`` with at most two decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise ValueError("must be a number")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a number")  # Decimal() alone also takes "1_000" and "١٢"
    try:
        amount = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0 or amount > maximum:
        raise ValueError(f"must be from 0 to {maximum}")
    if amount != amount.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise ValueError("must have at most two decimal places")
    return amount


def hundredths(amount: Decimal | None) -> int | None:
    """A parsed amount as stored: integer hundredths (None stays None)."""
    return None if amount is None else int(amount.scaleb(2))


def text(hundredths: int) -> str:
    """Stored hundredths as text with two decimals: ``1234`` -> ``"12.34"``."""
    return f"{Decimal(hundredths).scaleb(-2):.2f}"
