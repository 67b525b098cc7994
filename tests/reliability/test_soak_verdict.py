"""The soak's verdict (bench/verdict.py) fails on a lost, duplicated or wrongly answered event."""
from __future__ import annotations

from collections import Counter

from bench.soak_load import Attempt, Sent
from bench.verdict import check, verdict

OUTAGE = {"fault": "sqlite exclusive lock", "start": 100.0, "end": 104.0}
KILL = {"fault": "worker SIGKILL", "pid": 1, "respawned": True}


def sent(marker: str, *attempts: tuple[float, int, bool]) -> Sent:
    return Sent("goal", marker, [Attempt(t, t + 0.1, status, retry) for t, status, retry in
                                 attempts])


def judge(events: list[Sent], stored: Counter) -> list[str]:
    return check(verdict(events, stored, OUTAGE), [OUTAGE, KILL])


GOOD = [sent("a", (99.0, 202, False)), sent("b", (101.0, 503, True), (106.0, 202, False))]


def test_a_clean_run_passes():
    assert judge(GOOD, Counter({("goal", "a"): 1, ("goal", "b"): 1})) == []


def test_an_acknowledged_event_missing_from_the_store_fails():
    assert any("not stored" in p for p in judge(GOOD, Counter({("goal", "a"): 1})))


def test_an_event_stored_twice_fails():
    stored = Counter({("goal", "a"): 2, ("goal", "b"): 1})
    assert any("more than once" in p for p in judge(GOOD, stored))


def test_a_2xx_or_500_during_the_outage_fails():
    events = [*GOOD, sent("c", (102.0, 202, False)), sent("d", (102.5, 500, False))]
    stored = Counter({("goal", m): 1 for m in "abc"})
    problems = judge(events, stored)
    assert any("while the store was down" in p for p in problems)
    assert any("5xx other than 503" in p for p in problems)


def test_a_503_without_retry_after_fails():
    events = [sent("a", (101.0, 503, False), (106.0, 202, False))]
    assert any("Retry-After" in p for p in judge(events, Counter({("goal", "a"): 1})))


def test_a_webhook_batch_missing_one_of_its_events_fails():
    batch = Sent("webhook", "w", [Attempt(99.0, 99.1, 202, False)])
    stored = Counter(dict.fromkeys(batch.keys[1:], 1))
    stored.update({("goal", "a"): 1, ("goal", "b"): 1})
    problems = judge([*GOOD, batch], stored)
    assert any("1 acknowledged events are not stored" in p for p in problems)
