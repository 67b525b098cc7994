"""Periods of time in Unix milliseconds (UTC): hours, days and calendar months, and their
ISO-8601 rendering."""
from __future__ import annotations

from datetime import UTC, datetime

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
GRANULARITIES = {"hour": HOUR_MS, "day": DAY_MS}


def iso(ms: int | None) -> str | None:
    """``2026-11-24T14:00:00Z`` (milliseconds only when there are some); None stays None."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def floor(ms: int, granularity: str) -> int:
    """The start of the period holding ``ms``."""
    size = GRANULARITIES[granularity]
    return ms - ms % size


def ceil(ms: int, granularity: str) -> int:
    """The end of the period holding ``ms - 1``: a period boundary at or after ``ms``."""
    return -floor(-ms, granularity)


# A UTC calendar month, ``(year, month)``.
Month = tuple[int, int]


def month_of(ms: int) -> Month:
    """The UTC month holding ``ms``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.year, moment.month


def shift_month(month: Month, by: int) -> Month:
    """The month ``by`` months after ``month`` (before it when negative)."""
    index = month[0] * 12 + month[1] - 1 + by
    return index // 12, index % 12 + 1


def month_start_ms(month: Month) -> int:
    """The first millisecond of ``month``."""
    return int(datetime(month[0], month[1], 1, tzinfo=UTC).timestamp() * 1000)
