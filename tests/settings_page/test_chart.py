"""The server-drawn chart: hours placed right, lines told apart without colour."""
from __future__ import annotations

from conversions.core.periods import HOUR_MS
from conversions.settings_page import chart

START = 1_795_478_400_000  # 2026-11-24T00:00:00Z
H = HOUR_MS


def test_events_land_in_their_hour_and_outside_hours_are_dropped():
    buckets = {
        (START, "pixel", "purchase", ""): [2, 0, 0],
        (START + 5 * H, "goal", "purchase", "USD"): [3, 1250, 1],
        (START - H, "goal", "signup", ""): [9, 0, 0],
        (START + 24 * H, "webhook", "purchase", ""): [9, 0, 0],
    }
    counts = chart.hourly_counts(buckets, START, 24)
    assert counts["pixel"][0] == 2
    assert counts["goal"][5] == 3
    assert sum(counts["goal"]) == 3
    assert sum(counts["webhook"]) == 0


def test_each_source_has_its_own_dash_pattern_and_an_end_label():
    counts = {"pixel": [0] * 48, "webhook": [0] * 48, "goal": [0] * 48}
    counts["goal"][-1] = 7
    drawn = chart.hourly_chart(counts, START)
    assert len({line.dash for line in drawn["lines"]}) == 3
    labels = sorted(line.label_y for line in drawn["lines"])
    assert all(b - a >= 14 for a, b in zip(labels, labels[1:], strict=False))
    assert max(labels) <= drawn["bottom"] + 4
    assert drawn["max"] == 10
    assert [day["label"] for day in drawn["days"]] == ["Tue 24", "Wed 25"]


def test_the_table_sums_by_utc_day_newest_first():
    counts = {"pixel": [1] * 30, "webhook": [0] * 30, "goal": [0] * 30}
    rows = chart.daily_table(counts, START + 20 * H)  # 20:00 on the 24th to 01:00 on the 26th
    assert [(row["day"], row["total"]) for row in rows] == [
        ("2026-11-26", 2), ("2026-11-25", 24), ("2026-11-24", 4)]
