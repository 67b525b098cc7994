"""Helpers for the operations tests: signed goals, dead letters, the admin API."""
from __future__ import annotations

import json

import pytest
from conversions_client import sign_goal

from conversions.jobs import tasks
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.store.models import Event, IngestionFailure, IngestionTestEvent

GOAL = "/api/v1/track/pixel/goal?domain=shop.example.com"


@pytest.fixture(autouse=True)
def empty_tally():
    tally.drain()
    yield
    tally.drain()


@pytest.fixture
def send(client, tenant):
    """Sign a goal with the project's Python client and post it; returns the response."""

    def send(event_name="purchase", session_id="sess_1", url=GOAL, headers=None,
             signature=None, extra=None, **properties):
        signed = sign_goal(tenant["tenant_id"], tenant["pixel_secret"], event_name, session_id,
                           **properties)
        body = {**json.loads(signed.body), **(extra or {})}  # extra fields are not signed
        return client.post(url, data=json.dumps(body), headers={
            **signed.headers, "X-LP-Goal-Signature": signature or signed.signature,
            **(headers or {})})

    return send


def rows(model) -> list:
    with connection():
        return list(model.select().order_by(model.id))


def events() -> list[Event]:
    return rows(Event)


def dead_letters() -> list[IngestionFailure]:
    return rows(IngestionFailure)


def kept_test_events() -> list[IngestionTestEvent]:
    return rows(IngestionTestEvent)


@pytest.fixture
def run_jobs(app):
    """Run the monitoring jobs now, as the scheduler would (flush, aggregate, staleness)."""

    def run(*names: str) -> None:
        with app.app_context():
            for name in names or ("flush", "aggregate", "staleness"):
                tasks.run(name, force=True)

    return run
