"""Hypothesis profile for the property tests: bounded, no example database on disk."""
from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "conversions", database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("conversions")
