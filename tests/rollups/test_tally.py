"""Accepted and rejected events are tallied in process, by tenant, source and outcome."""
from __future__ import annotations

import pytest
from conversions_client import sign_goal

from conversions.rollups import tally


@pytest.fixture(autouse=True)
def empty_tally():
    tally.drain()
    yield
    tally.drain()


def test_goal_outcomes_are_tallied(client, tenant):
    signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], "buy", "s")
    url = "/api/v1/track/pixel/goal?domain=shop.example.com"
    headers = signed.headers
    client.post(url, data=signed.body, headers=headers)
    client.post(url, data=signed.body, headers=headers)  # duplicate: not counted again
    client.post(url, data=signed.body, headers={**headers, "X-LP-Goal-Signature": "00"})
    client.post("/api/v1/track/pixel/goal?domain=nobody.example", data="{}", headers=headers)
    pii = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], "buy", "a@b.co")
    client.post(url, data=pii.body, headers=pii.headers)
    assert tally.drain() == {
        (tenant["tenant_id"], "goal", "accepted"): 1,
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
