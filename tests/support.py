"""Helpers for tests, in one place: the database under test, PostgreSQL and Redis, a real
gunicorn, goals sent and rows read through the real endpoints and store, the admin's side."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from conversions_client import sign_goal
from werkzeug.wrappers import Response

from conversions.store import settings
from conversions.store.database import connection
from conversions.store.models import (
    Event,
    IngestionFailure,
    IngestionTestEvent,
    SigningKey,
    Tenant,
)

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
# The server the PostgreSQL pass makes its throwaway databases on (any database there).
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_database_url(tmp_path: Path) -> str:
    """``TEST_DATABASE_URL`` when set (PostgreSQL runs), else a fresh SQLite file."""
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'conversions.db'}"


test_database_url.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def served_database(tmp_path: Path, *tenants: tuple[str, str],
                    **config: str) -> tuple[str, list[dict]]:
    """A database for a served app (``test_database_url``), emptied, with a tenant for each
    (domain, buyer id) as ``tenant create`` makes them; its URL and the new tenants."""
    from app import create_app
    from conversions.store.database import connection
    from conversions.tenants import accounts

    url = test_database_url(tmp_path)
    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text", **config})
    with connection():
        empty_database()
        made = [accounts.create(domain, buyer) for domain, buyer in tenants]
    return url, made


def postgres_pass() -> bool:
    """Whether this run is the PostgreSQL pass (``TEST_DATABASE_URL=postgresql://...``)."""
    return urlsplit(os.environ.get("TEST_DATABASE_URL", "")).scheme.startswith("postgres")


# Why tests were skipped for a missing service or tool, each reported once (tests/conftest.py).
missing_reasons: set[str] = set()


def missing(message: str) -> NoReturn:
    """A service the test needs is not there: fail under ``CI=true``, skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    missing_reasons.add(message)
    pytest.skip(message)


def one_line(err: BaseException) -> str:
    """An error's text on one line (psycopg's span several)."""
    return " ".join(str(err).split())


def empty_database() -> None:
    """Remove every row, keeping the schema; ids start again at 1 on either database."""
    from peewee import AutoField, PostgresqlDatabase

    from conversions.store.database import database
    from conversions.store.models import MODELS

    statements = [f'DELETE FROM "{model._meta.table_name}"' for model in reversed(MODELS)]
    if isinstance(database.obj, PostgresqlDatabase):
        # One round trip. On a test's few rows DELETE is ~10x faster than TRUNCATE (which
        # makes new files for every table); resetting the sequences numbers rows as SQLite does.
        statements += [
            f"SELECT setval(pg_get_serial_sequence('\"{model._meta.table_name}\"', "
            f"'{model._meta.primary_key.column_name}'), 1, false)"
            for model in MODELS if isinstance(model._meta.primary_key, AutoField)
        ]
        database.execute_sql("; ".join(statements))
    else:  # a fresh file each test: this only empties module-scoped servers' databases
        for statement in statements:
            database.execute_sql(statement)


def require_postgres(admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """``admin_url`` when PostgreSQL answers there; fails under ``CI=true``, skips otherwise."""
    import psycopg

    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.OperationalError as err:
        missing(f"PostgreSQL is unreachable at {admin_url} ({one_line(err)}); "
                "start it (.ci/run does) or set TEST_POSTGRES_URL, then run make test")
    return admin_url


@contextmanager
def throwaway_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database for this run, dropped afterwards; yields its URL."""
    import psycopg

    name = f"conversions_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            # FORCE ends connections a stray server process may still hold.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_redis(url: str = REDIS_URL) -> str:
    """``url`` when Redis answers there; fails under ``CI=true`` and skips otherwise."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as err:
        missing(f"Redis is unreachable at {url} ({one_line(err)}); start it (.ci/run does) "
                "or set TEST_REDIS_URL, then run make test")
    return url


def require_node() -> str:
    """The path of Node.js 18 or later; missing it fails under ``CI=true``, skips otherwise."""
    node = shutil.which("node")
    version = ""
    if node:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if node is None or major is None or int(major[1]) < 18:
        missing(f"Node.js 18 or later is needed for clients/js (found {version or 'none'}): "
                "apt-get install nodejs (.ci/run does), then run make test")
    return node


def run_node(script: str, *args: str, timeout: float = 120) -> str:
    """Run an ES module ``script`` (imports relative to the repository root); its stdout."""
    run = subprocess.run([require_node(), "--input-type=module", "-", *args], input=script,
                         cwd=ROOT, capture_output=True, encoding="utf-8", timeout=timeout)
    assert run.returncode == 0, f"node failed:\n{run.stdout}\n{run.stderr}"
    return run.stdout


def wsgi_layer(app, kind: type):
    """The WSGI middleware of type ``kind`` among the layers wrapping ``app``'s Flask callable."""
    layer = app.wsgi_app
    while not isinstance(layer, kind):
        layer = layer.app
    return layer


def until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.001) -> T:
    """Poll ``condition`` until it is truthy and return what it gave: another thread or
    process reaching a state. Not a timing assertion: it fails only if that never happens."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "never got there"
        time.sleep(interval)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``gunicorn wsgi:app`` on a free loopback port, with the given environment."""

    def __init__(self, env: dict[str, str], workers: int = 2, log_path: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 20) -> Server:
        return self.launch().wait(timeout)

    def launch(self) -> Server:
        """Start gunicorn without waiting for it, to start several servers at once."""
        # Always kept, for the run's search for secrets in logs (tests/suite_checks.py).
        path = self.log_path or ROOT / "tests" / "artifacts" / "servers" / f"{self.port}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log = open(path, "ab")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        return self

    def wait(self, timeout: float = 20) -> Server:
        """Return once ``/healthz`` answers; stop the server and raise if it never does."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}"
                                   f"{self._log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in time{self._log_tail()}")

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return ":\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
            self._log = None

    def post(self, path: str, data: bytes | str, headers: dict[str, str]) -> Response:
        """POST ``path`` over HTTP, called as the Flask test client's ``post`` is; the answer
        as a werkzeug response, whatever its status."""
        body = data.encode() if isinstance(data, str) else data
        status, answer_headers, answer = http("POST", self.url + path, body, headers)
        return Response(answer, status, answer_headers)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request; returns status, headers and body, for any status."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def openapi_document() -> dict:
    """The app's OpenAPI document, built on a throwaway in-memory store (test collection
    needs it before any fixture runs)."""
    from app import create_app
    from conversions.web import openapi

    return openapi.build(create_app({"TESTING": True, "DATABASE_URL": "sqlite:///:memory:"}))


def tracked_files() -> list[str]:
    """Every file git tracks; the test is about a checkout, so it needs git and a checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to say which files are tracked")
    return [name for name in listed.decode().split("\0") if name]


def texts(names: list[str]) -> dict[str, str]:
    """The text of each file of ``names`` that is text (images name nothing)."""
    out = {}
    for name in names:
        path = ROOT / name
        if path.is_file():
            data = path.read_bytes()
            if b"\0" not in data:
                out[name] = data.decode("utf-8", "replace")
    return out


# -- Test data sent and stored through the real endpoints and store ----------------------------

GOAL = "/api/v1/track/pixel/goal?domain=shop.example.com"
T0 = 1_795_514_400.0  # 2026-11-24T10:00:00Z, where the monitoring tests' clock starts
_sessions = itertools.count()


def post_goal(client, tenant: dict, event_name: str = "purchase", session: str | None = None, *,
              domain: str | None = None, url: str | None = None, key: str | None = None,
              signature: str | None = None, extra: dict | None = None,
              headers: dict | None = None, expect: int | None = None, **fields: Any):
    """POST with ``client`` (the Flask test client, or a ``Server``) a goal of ``tenant`` signed
    by the project's Python client, as a customer's server sends it; returns the response.

    ``session`` is a fresh one unless given; ``url`` (else the goal route for ``domain``, else
    the tenant's) may carry a query; ``key`` signs instead of the tenant's pixel secret,
    ``signature`` replaces the signature, ``extra`` adds unsigned body fields; ``expect``
    asserts the status."""
    signed = sign_goal(tenant["tenant_id"], key or tenant["pixel_secret"], event_name,
                       f"s-{next(_sessions)}" if session is None else session, **fields)
    body = json.dumps({**json.loads(signed.body), **extra}) if extra else signed.body
    response = client.post(url or f"/api/v1/track/pixel/goal?domain={domain or tenant['domain']}",
                           data=body, headers={**signed.headers, **(headers or {}),
                                               "X-LP-Goal-Signature": signature
                                               or signed.signature})
    if expect is not None:
        assert response.status_code == expect, response.get_data(as_text=True)
    return response


# What a refused goal signature answers.
SIGNATURE_ERRORS = {"missing_signature", "invalid_signature"}


def goal_mac(key: bytes, message: bytes) -> str:
    """A goal's signature of ``message`` (a canonical rendering): HMAC-SHA256 in hex."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def post_goal_body(client, body: bytes | dict, signature: str | None, url: str = GOAL):
    """POST ``body`` as it is (a dict as JSON) to the goal route with ``signature`` (no header
    for None); the response."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-LP-Goal-Signature"] = signature
    return client.post(url, data=data, headers=headers)


def server_verifies(body: bytes | str, signature: str, tenant_id: str, key: bytes) -> bool:
    """The service's own check: a MAC over one of the canonical renderings of ``body``."""
    from conversions.core import canonical

    renderings = canonical.renderings(canonical.parse_body(body), tenant_id)
    return any(hmac.compare_digest(goal_mac(key, r), signature) for r in renderings)


def seed_tenant(tenant_id: str, domain: str, pixel_secret_hex: str, created_at_ms: int = 0,
                buyer_id: str | None = None, webhook_keys: tuple[bytes, ...] = ()) -> None:
    """Register a tenant whose id and secrets are given (the signing vectors' own)."""
    with connection():
        Tenant.create(id=tenant_id, domain=domain, buyer_id=buyer_id, created_at_ms=created_at_ms)
        SigningKey.create(tenant=tenant_id, kind="pixel", secret=bytes.fromhex(pixel_secret_hex),
                          created_at_ms=created_at_ms)
        for key in webhook_keys:
            SigningKey.create(tenant=tenant_id, kind="webhook", secret=key,
                              created_at_ms=created_at_ms)


def store_settings(**changes: Any) -> None:
    """Change settings of the store (``store.settings``) the app under test was made with."""
    settings.configure(dataclasses.replace(settings.current(), **changes))


def rows(model) -> list:
    """Every stored row of ``model``, oldest first."""
    with connection():
        return list(model.select().order_by(model.id))


def events() -> list[Event]:
    return rows(Event)


def dead_letters() -> list[IngestionFailure]:
    return rows(IngestionFailure)


def kept_test_events() -> list[IngestionTestEvent]:
    return rows(IngestionTestEvent)


# Property tests and fuzzing send thousands of requests, many wrongly signed on purpose, from
# one address: rate limits are tested elsewhere and would only answer 429 there.
UNLIMITED = {"SIGNATURE_FAILURE_LIMIT": "1000000 per minute",
             "POSTBACK_GUESS_LIMIT": "1000000 per minute",
             "RATELIMIT_INGEST": "1000000 per minute",
             "RATELIMIT_PER_ADDRESS": "1000000 per minute"}


# -- The admin's side: the token, the settings page, the documented operations ----------------

ADMIN_TOKEN = "admin-token-for-tests-0123456789"  # noqa: S105  (a test credential)
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, token: str = ADMIN_TOKEN):
    """Sign ``client`` in to the settings page from a non-loopback address."""
    page = client.get("/settings/login", environ_overrides=REMOTE)
    return client.post("/settings/login", data={"csrf_token": csrf(page.text), "token": token},
                       environ_overrides=REMOTE)


def system_page(client, tenant_id: str) -> str:
    """The settings page of ``tenant_id``, asked for from a non-loopback address."""
    answer = client.get(f"/settings/system?tenant_id={tenant_id}", environ_overrides=REMOTE)
    assert answer.status_code == 200
    return answer.text


def post_form(client, path: str, data: dict, **extra: Any):
    """POST a settings form from a non-loopback address."""
    return client.post(path, data=data, environ_overrides=REMOTE, **extra)


@contextmanager
def served(url: str, tmp: Path) -> Iterator[Server]:
    """gunicorn (2 workers) with the admin token on the database at ``url``, keys read
    afresh each request, its secret key and log under ``tmp``."""
    env = {"DATABASE_URL": url, "CONVERSIONS_ADMIN_TOKEN": ADMIN_TOKEN,
           # Plain http on loopback: the cookie could not travel if it were Secure.
           "CONVERSIONS_SESSION_COOKIE_SECURE": "false",
           "CONVERSIONS_SECRET_KEY_FILE": str(tmp / "secret_key"),
           "CONVERSIONS_KEY_CACHE_SECONDS": "0", "CONVERSIONS_LOG_FORMAT": "text"}
    with Server(env, workers=2, log_path=tmp / "gunicorn.log") as running:
        yield running


@contextmanager
def signed_in_tab(browser, server: Server):
    """A Chromium tab that asked for /settings/system, was sent to sign in, and signed in."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(5000)
    tab = context.new_page()
    tab.goto(server.url + "/settings/system")
    assert tab.url.endswith("/settings/login")
    tab.fill("#token", ADMIN_TOKEN)
    tab.get_by_role("button", name="Sign in").click()
    assert tab.url.endswith("/settings/system")
    try:
        yield tab
    finally:
        context.close()


def text(tab, selector: str) -> str:
    """The visible text of the element at ``selector``."""
    return tab.locator(selector).inner_text().strip()


@functools.cache
def _document() -> dict:
    return openapi_document()


def operations(*methods: str, admin: bool | None = None,
               page: bool = False) -> list[tuple[str, str]]:
    """Documented ``(path, method)`` pairs: ``admin`` filters JSON endpoints on the bearer
    requirement; ``page`` picks the HTML pages behind a session instead."""
    out = []
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", [])
            is_page = {"settingsSession": []} in security
            is_admin = security == [{"adminBearer": []}]
            if method not in methods or is_page != page:
                continue
            if page or admin is None or admin == is_admin:
                out.append((path, method))
    return out


def concrete(path: str) -> str:
    """A documented path template with its parameters filled in."""
    return re.sub(r"\{[^}]+\}", "1", path)
