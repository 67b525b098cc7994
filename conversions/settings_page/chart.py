"""Events per hour by source type, drawn as inline SVG on the server.

Each source has its own dash pattern and marker and is labelled at the end of its line, so
the chart reads without colour; the page also gives the numbers as a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conversions.core.periods import HOUR_MS
from conversions.core.sources import NAMES, SOURCES
from conversions.rollups.figures import Buckets

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 120, 16, 40


@dataclass
class Line:
    source: str
    points: str
    dash: str
    colour: str
    pattern: str
    total: int
    label_y: float


def hourly_counts(buckets: Buckets, start_ms: int, hours: int) -> dict[str, list[int]]:
    """Per source, the event count of each hour from ``start_ms`` (outside hours dropped),
    from ``figures.by_period``'s buckets by hour."""
    counts = {source: [0] * hours for source in NAMES}
    for (period_ms, source, _, _), (events, _, _) in buckets.items():
        index = (period_ms - start_ms) // HOUR_MS
        if source in counts and 0 <= index < hours:
            counts[source][index] += events
    return counts


def _hour(start_ms: int, index: int) -> datetime:
    return datetime.fromtimestamp((start_ms + index * HOUR_MS) / 1000, UTC)


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _spread(wanted: list[float], gap: float, lowest: float) -> list[float]:
    """Move end labels apart so none overlaps the next, none below ``lowest`` (order kept)."""
    order = sorted(range(len(wanted)), key=wanted.__getitem__)
    placed = list(wanted)
    for before, after in zip(order, order[1:], strict=False):
        placed[after] = max(placed[after], placed[before] + gap)
    overflow = max(max(placed) - lowest, 0)
    return [round(value - overflow, 1) for value in placed]


def hourly_chart(counts: dict[str, list[int]], start_ms: int) -> dict[str, Any]:
    """Everything the SVG template draws: lines, axis ticks and scale."""
    hours = len(next(iter(counts.values())))
    top = _nice_ceiling(max((max(values) for values in counts.values()), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return round(LEFT + plot_w * index / max(hours - 1, 1), 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / top), 1)

    lines = []
    for source, values in counts.items():
        dash, colour, pattern = SOURCES[source].chart
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))
        lines.append(Line(source, points, dash, colour, pattern, sum(values), y(values[-1])))
    wanted = [line.label_y for line in lines]
    for line, label_y in zip(lines, _spread(wanted, 14, TOP + plot_h + 4), strict=True):
        line.label_y = label_y
    days = [{"x": x(i), "label": _hour(start_ms, i).strftime("%a %d")}
            for i in range(hours) if _hour(start_ms, i).hour == 0]
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
        "bottom": HEIGHT - BOTTOM, "lines": lines, "days": days, "max": top,
        "ticks": [{"y": y(value), "label": value}
                  for value in ((0, top // 2, top) if top % 2 == 0 else (0, top))],
        "end_x": x(hours - 1),
        "legend": " · ".join(f"{line.pattern}: {line.source}" for line in lines),
    }


def daily_table(counts: dict[str, list[int]], start_ms: int) -> list[dict[str, Any]]:
    """Per UTC date, newest first: events by source and in all."""
    rows: dict[str, dict[str, Any]] = {}
    for source, values in counts.items():
        for index, value in enumerate(values):
            day = _hour(start_ms, index).strftime("%Y-%m-%d")
            row = rows.setdefault(day, {"day": day, "counts": dict.fromkeys(counts, 0),
                                        "total": 0})
            row["counts"][source] += value
            row["total"] += value
    return sorted(rows.values(), key=lambda row: row["day"], reverse=True)
