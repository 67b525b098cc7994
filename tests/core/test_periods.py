"""Calendar months in Unix milliseconds (UTC)."""
from __future__ import annotations

import pytest

from conversions.core.periods import month_of, month_start_ms, shift_month


@pytest.mark.parametrize(("month", "by", "expected"), [
    pytest.param((2026, 12), 1, (2027, 1), id="into-next-year"),
    pytest.param((2026, 1), -1, (2025, 12), id="into-last-year"),
    pytest.param((2026, 5), -17, (2024, 12), id="over-a-year-back"),
    pytest.param((2026, 5), 0, (2026, 5), id="none"),
])
def test_shift_month(month, by, expected):
    assert shift_month(month, by) == expected


def test_a_month_starts_at_its_first_millisecond_and_holds_up_to_the_next():
    start = month_start_ms((2026, 3))
    assert start == 1_772_323_200_000  # 2026-03-01T00:00:00Z
    assert month_of(start) == (2026, 3)
    assert month_of(start - 1) == (2026, 2)
    assert month_of(month_start_ms((2026, 4)) - 1) == (2026, 3)
