"""Fixtures for the operations tests: the monitoring jobs run by hand."""
from __future__ import annotations

import pytest

from conversions.jobs import tasks


@pytest.fixture
def run_jobs(app):
    """Run the monitoring jobs now, as the scheduler would (flush, aggregate, staleness)."""

    def run(*names: str) -> None:
        with app.app_context():
            for name in names or ("flush", "aggregate", "staleness"):
                tasks.run(name, force=True)

    return run
