"""In-memory rate-limit counters: expired by one long-lived thread, limits unchanged."""
from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from conversions.web import limit_sweeper


def test_hits_start_no_thread_and_the_limit_still_holds():
    storage = MemoryStorage()
    limit_sweeper.adopt(storage)
    limiter = FixedWindowRateLimiter(storage)
    item = parse("50 per minute")
    before = {thread.ident for thread in threading.enumerate()}
    outcomes = []
    for _ in range(60):
        outcomes.append(limiter.hit(item, "tenant-1"))
        time.sleep(0.0005)  # longer than nothing: the stock storage would start timers here
    assert outcomes == [True] * 50 + [False] * 10
    assert {thread.ident for thread in threading.enumerate()} <= before


def test_expired_counters_are_swept(monkeypatch):
    monkeypatch.setattr(limit_sweeper, "INTERVAL_SECONDS", 0.01)
    storage = MemoryStorage()
    limit_sweeper.adopt(storage)
    FixedWindowRateLimiter(storage).hit(parse("5 per second"), "tenant-2")
    deadline = time.monotonic() + 10
    while storage.storage and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not storage.storage


def test_a_sweep_keeps_live_counters_and_clears_ended_ones():
    storage = MemoryStorage()
    limit_sweeper.adopt(storage)
    storage.incr("live", expiry=60)
    storage.incr("ended", expiry=0.001)
    time.sleep(0.01)
    limit_sweeper.sweep(storage)
    assert storage.get("live") == 1
    assert "ended" not in storage.expirations
    assert "ended" not in storage.storage
