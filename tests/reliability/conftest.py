"""Hypothesis profile for the property tests: bounded, no example database on disk."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.support import UNLIMITED

settings.register_profile(
    "conversions", database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("conversions")


@pytest.fixture
def app(app):
    """The test app without rate limits."""
    app.config.update(UNLIMITED)
    return app
