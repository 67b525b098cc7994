"""Webhooks against a real gunicorn with several workers, sent as outside senders would."""
from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import Server, http, require_redis, served_database
from tests.webhook_senders import body_of, event, hand_headers, package_headers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A database with tenant ``hooks-1``; the rate-limit store is a shared Redis."""
    redis_url = require_redis()
    tmp = tmp_path_factory.mktemp("webhook-server")
    url, (tenant,) = served_database(tmp, ("hooks.example.com", "hooks-1"))
    env = {"DATABASE_URL": url, "RATELIMIT_STORAGE_URI": redis_url}
    with Server(env, workers=2, log_path=tmp / "gunicorn.log") as server:
        yield server, tenant


def post(server, headers, body, buyer="hooks-1"):
    status, _, answer = http("POST", f"{server.url}/api/conversions/webhook?buyer_id={buyer}",
                             body, headers)
    return status, json.loads(answer)


def stored_count(**where) -> int:
    from conversions.store.database import connection
    from conversions.store.models import Event

    with connection():
        query = Event.select()
        for name, value in where.items():
            query = query.where(getattr(Event, name) == value)
        return query.count()


def test_batch_of_a_thousand_signed_by_the_package(setup):
    server, tenant = setup
    prefix = uuid.uuid4().hex[:8]
    body = body_of({"events": [event(i, event_id=f"{prefix}-{i}") for i in range(1000)]})
    status, answer = post(server, package_headers(tenant["webhook_secret"], body), body)
    assert status == 202, answer
    assert (answer["accepted"], len(set(answer["event_ids"]))) == (1000, 1000)


def test_concurrent_replays_across_workers_are_stored_once(setup):
    server, tenant = setup
    name = f"race-{uuid.uuid4().hex[:8]}"
    body = body_of(event(event_id=None, event_name=name))
    headers = package_headers(tenant["webhook_secret"], body)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: post(server, headers, body), range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 7 + [202], results
    assert stored_count(event_name=name) == 1


def test_rotation_is_seen_at_once_by_every_worker(setup):
    from conversions.store.database import connection
    from conversions.tenants import accounts

    server, tenant = setup
    old = tenant["webhook_secret"]
    body = body_of(event(event_id=None))
    assert post(server, hand_headers([old], body), body)[0] == 202  # warms the key caches
    with connection():
        new = accounts.rotate(tenant["tenant_id"], "webhook", 600)["webhook_secret"]
    for secret in (new, old, new, old):
        body = body_of(event(event_id=None))
        status, answer = post(server, package_headers(secret, body), body)
        assert status == 202, answer


def test_tenant_limit_is_shared_by_workers_through_redis(setup):
    from conversions.store.database import connection
    from conversions.tenants import accounts, settings

    server, _ = setup
    buyer = f"limited-{uuid.uuid4().hex[:8]}"
    with connection():
        tenant = accounts.create(f"{buyer}.example.com", buyer)
    settings.put(tenant["tenant_id"], "rate_limit.webhook", "4 per minute")
    statuses = []
    for _ in range(5):
        body = body_of(event(event_id=None))
        status, _ = post(server, package_headers(tenant["webhook_secret"], body), body, buyer)
        statuses.append(status)
    assert statuses == [202] * 4 + [429]
