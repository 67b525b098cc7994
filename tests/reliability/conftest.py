"""Hypothesis profile for the property tests: bounded, no example database on disk."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "conversions", database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("conversions")


# Property tests and fuzzing send thousands of requests, many wrongly signed on purpose, from
# one address: rate limits are tested elsewhere and would only answer 429 here.
UNLIMITED = {"SIGNATURE_FAILURE_LIMIT": "1000000 per minute",
             "POSTBACK_GUESS_LIMIT": "1000000 per minute",
             "RATELIMIT_INGEST": "1000000 per minute",
             "RATELIMIT_PER_ADDRESS": "1000000 per minute"}


@pytest.fixture
def app(app):
    app.config.update(UNLIMITED)
    return app
