"""Per-tenant settings: validated, scoped by source, falling back to configuration."""
from __future__ import annotations

import pytest

from conversions.tenants import settings


def test_default_comes_from_configuration(app, tenant):
    with app.app_context():
        assert settings.get(tenant["tenant_id"], "freshness_window_seconds", "pixel") == 86400


def test_source_override_beats_tenant_override_beats_default(app, tenant):
    tid = tenant["tenant_id"]
    with app.app_context():
        settings.put(tid, "freshness_window_seconds", "7200")
        settings.put(tid, "freshness_window_seconds.webhook", "600")
        assert settings.get(tid, "freshness_window_seconds", "webhook") == 600
        assert settings.get(tid, "freshness_window_seconds", "pixel") == 7200
        settings.clear(tid, "freshness_window_seconds")
        assert settings.get(tid, "freshness_window_seconds", "pixel") == 86400
        assert settings.overrides(tid) == {"freshness_window_seconds.webhook": "600"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("freshness_window_seconds", "10", id="window-too-short"),
        pytest.param("freshness_window_seconds", "soon", id="window-not-a-number"),
        pytest.param("rate_limit.pixel", "lots", id="limit-unparseable"),
        pytest.param("colour", "blue", id="unknown-name"),
        pytest.param("rate_limit.fax", "1 per second", id="unknown-source"),
    ],
)
def test_invalid_values_are_refused(app, tenant, name, text):
    with app.app_context(), pytest.raises(ValueError, match="must|unknown"):
        settings.put(tenant["tenant_id"], name, text)


def test_rate_limit_override_is_saved(app, tenant):
    with app.app_context():
        assert settings.put(tenant["tenant_id"], "rate_limit.pixel", "10 per minute") == \
            "10 per minute"
        assert settings.get(tenant["tenant_id"], "rate_limit", "pixel") == "10 per minute"
