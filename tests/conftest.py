"""Shared fixtures: an app on a throwaway database, its clients, tenants, a live server."""
from __future__ import annotations

import base64
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from conversions.core import clock as service_clock
from conversions.rollups import tally
from conversions.store.database import connection, database
from conversions.tenants import accounts
from tests import support
from tests import vectors as known_answers
from tests.browser import browser  # noqa: F401  (a fixture)
from tests.support import post_goal, seed_tenant

# Whole-run checks: secrets never in any log, schemathesis' case count.
pytest_plugins = ["tests.suite_checks"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres: runs only in the PostgreSQL pass (TEST_DATABASE_URL=postgresql://...)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Tests skipped for one missing service are summed up in one line, not one per test."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if reason.removeprefix("Skipped: ") in support.missing_reasons:
            report.longrepr = (support.__file__, None, reason)
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and not support.postgres_pass():
        pytest.skip("PostgreSQL pass only: make test runs it (tests/postgres_pass.py)")


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    """The goal cases of the project's known answers (tests/vectors/signing.json)."""
    return known_answers.load()["goals"]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return support.test_database_url(tmp_path)


@pytest.fixture
def app(database_url: str):
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        "KEY_CACHE_SECONDS": 0,
        "LOG_FORMAT": "text",
    })
    app.after_request(_remember_response)
    with connection():
        support.empty_database()
    yield app
    database.close_all()


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database: the pass's own, else a throwaway one for this session."""
    if support.postgres_pass():
        yield os.environ["TEST_DATABASE_URL"]
        return
    with support.throwaway_database(support.require_postgres()) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for shared rate limits; fails under ``CI=true`` and skips elsewhere if missing."""
    return support.require_redis()


# What the current test's tenants and app said, for the secret-leak check.
_said: dict[str, list] = {"secrets": [], "responses": []}


def _remember_response(response):
    body = b"" if response.direct_passthrough else response.get_data()
    _said["responses"].append(str(response.headers).encode() + body)
    return response


def secret_forms(secret: str) -> list[str]:
    """A secret as shown, and its key bytes in hex and base64."""
    raw = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else bytes.fromhex(secret)
    return [secret, raw.hex(), base64.b64encode(raw).decode()]


@pytest.fixture(autouse=True)
def no_secret_leaks(caplog):
    """No log line and no response of a test with a tenant ever holds one of its secrets."""
    _said["secrets"].clear()
    _said["responses"].clear()
    yield
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]
    said = "\n".join([*(f"{r.getMessage()} {r.__dict__}" for r in records),
                      *(text.decode("utf-8", "replace") for text in _said["responses"])])
    for secret in _said["secrets"]:
        for form in secret_forms(secret):
            assert form not in said, "a log line or response holds a tenant's secret"


class MovableClock:
    """The service's clock for a test: it stays at ``now`` until the test sets or moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def frozen_clock() -> Iterator[MovableClock]:
    """The service's clock stopped at the current time, to be set or moved instead of
    sleeping; the system clock again after the test."""
    moving = MovableClock(time.time())
    service_clock.use(moving)
    yield moving
    service_clock.use(None)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def tenant(app) -> dict:
    """A tenant with its secrets, as ``tenant create`` prints it."""
    with connection():
        created = accounts.create("shop.example.com", "buyer-1")
    _said["secrets"] += [created["pixel_secret"], created["webhook_secret"]]
    return created


@pytest.fixture(autouse=True)
def empty_tally() -> Iterator[None]:
    """No test sees another's in-process tallies."""
    tally.drain()
    yield
    tally.drain()


@pytest.fixture
def send_goal(client, tenant):
    """``support.post_goal`` with the test client, for the test tenant."""
    return functools.partial(post_goal, client, tenant)


@pytest.fixture
def vector_tenants(app, vectors) -> list[str]:
    """Every vector's tenant registered under ``vector-N.example``; returns the domains."""
    domains = []
    for index, case in enumerate(vectors):
        domain = f"vector-{index}.example"
        seed_tenant(case["tenant_id"], domain, case["pixel_secret"])
        domains.append(domain)
    return domains
