"""Template filters for the settings page: instants and durations as people read them."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint


def when(value: object) -> str:
    """An instant (Unix ms or ISO-8601) as ``2026-11-24 14:05 UTC``; ``never`` if none."""
    if value is None or value == "":
        return "never"
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        moment = datetime.fromisoformat(str(value))
        moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: object) -> str:
    """Seconds in the largest whole unit: ``24 hours``, ``90 minutes``, ``45 seconds``."""
    total = int(str(seconds))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if total >= size and total % size == 0:
            count = total // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{total} second{'s' if total != 1 else ''}"


def register(bp: Blueprint) -> None:
    bp.add_app_template_filter(when)
    bp.add_app_template_filter(duration)
