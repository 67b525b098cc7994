"""The start-up warning when rate limits would be counted per worker."""
from __future__ import annotations

import pytest

from config.checks import rate_limit_storage_warning
from tests.support import Server, test_database_url


@pytest.mark.slow
def test_memory_storage_with_two_workers_is_warned_at_start_up(tmp_path):
    log = tmp_path / "gunicorn.log"
    env = {"DATABASE_URL": test_database_url(tmp_path), "RATELIMIT_STORAGE_URI": "memory://"}
    with Server(env, workers=2, log_path=log):
        pass
    text = log.read_text()
    assert "memory:// with 2 workers" in text
    assert "Set RATELIMIT_STORAGE_URI=redis://" in text


@pytest.mark.parametrize(("workers", "uri"), [
    pytest.param(1, "memory://", id="one-worker"),
    pytest.param(4, "redis://127.0.0.1:6379", id="redis"),
])
def test_shared_storage_or_a_single_worker_is_not_warned(workers, uri):
    assert rate_limit_storage_warning(workers, uri) is None


def test_the_configured_storage_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    assert rate_limit_storage_warning(2) is None
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    assert "Set RATELIMIT_STORAGE_URI=redis://" in rate_limit_storage_warning(2)
