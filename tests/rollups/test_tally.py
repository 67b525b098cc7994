"""Events received are tallied in process, by tenant, source and outcome (accepted,
duplicate, test or the refusal's code)."""
from __future__ import annotations

from conversions.rollups import tally


def test_goal_outcomes_are_tallied(tenant, send_goal):
    send_goal("buy", "s")
    send_goal("buy", "s")  # a duplicate, counted as one
    send_goal("buy", "s", signature="00")
    send_goal("buy", "s", domain="nobody.example")
    send_goal("buy", "a@b.co")
    assert tally.drain() == {
        (tenant["tenant_id"], "goal", "accepted"): 1,
        (tenant["tenant_id"], "goal", "duplicate"): 1,
        (tenant["tenant_id"], "goal", "invalid_signature"): 1,
        (None, "goal", "unknown_domain"): 1,
        (tenant["tenant_id"], "goal", "pii_rejected"): 1,
    }


def test_restore_puts_back_undelivered_counts():
    tally.rejected("t", "pixel", "invalid_event")
    taken = tally.drain()
    tally.rejected("t", "pixel", "invalid_event")
    tally.restore(taken)
    assert tally.drain() == {("t", "pixel", "invalid_event"): 2}
