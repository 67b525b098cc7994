"""Fixtures for monitoring: a clock to move, events of any source stored through the real
store, and the jobs run by hand (goals go through the real endpoint: ``send_goal``)."""
from __future__ import annotations

import pytest

from conversions.jobs import tasks
from conversions.store.database import connection
from conversions.store.events import insert_event
from tests.support import T0


@pytest.fixture
def moved(app, frozen_clock):
    """The service's clock at ``T0``, moved by hand."""
    frozen_clock.now = T0
    return frozen_clock


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
