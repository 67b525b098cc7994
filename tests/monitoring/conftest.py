"""Fixtures for monitoring: a clock to move, goals sent through the real endpoint, events
of any source stored through the real store, and the jobs run by hand."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from conversions_client import sign_goal

from conversions.jobs import tasks
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.store.events import insert_event

# 2026-11-24T10:00:00Z
T0 = 1_795_514_400.0


@pytest.fixture
def moved(app, frozen_clock):
    """The service's clock at ``T0``, moved by hand."""
    frozen_clock.now = T0
    return frozen_clock


@pytest.fixture(autouse=True)
def empty_tally() -> Iterator[None]:
    tally.drain()
    yield
    tally.drain()


@pytest.fixture
def send_goal(client, tenant):
    """POST a goal signed by the project's Python client; returns the response."""
    counter = iter(range(10**6))

    def send(event_name: str = "purchase", value: float | None = None,
             currency: str | None = None, signature: str | None = None,
             domain: str = "shop.example.com", session: str | None = None):
        signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], event_name,
                           session or f"s-{next(counter)}", value=value, currency=currency)
        return client.post(f"/api/v1/track/pixel/goal?domain={domain}", data=signed.body,
                           headers={**signed.headers,
                                    "X-LP-Goal-Signature": signature or signed.signature})

    return send


@pytest.fixture
def add_event(app, tenant):
    """Store an event of any source as ingestion would (times in Unix seconds)."""
    counter = iter(range(10**6))

    def add(source_type: str, received: float, occurred: float | None = None,
            event_name: str = "purchase", value_hundredths: int | None = None,
            currency: str | None = None) -> int:
        row = {"tenant": tenant["tenant_id"], "source_type": source_type,
               "signed": source_type != "pixel", "event_name": event_name,
               "value_hundredths": value_hundredths, "currency": currency,
               "occurred_at_ms": int((received if occurred is None else occurred) * 1000),
               "received_at_ms": int(received * 1000), "dedup_key": f"id:{next(counter)}"}
        with connection():
            return insert_event(row)[0]

    return add


@pytest.fixture
def run_job(app):
    """Run a job now, as ``flask jobs run`` does."""

    def run(name: str, force: bool = True):
        with app.app_context():
            return tasks.run(name, force=force)

    return run
