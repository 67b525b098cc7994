"""The key cache: used only while no secret changed anywhere and none of its keys expired."""
from __future__ import annotations

import pytest

from conversions.store import generations
from conversions.store.database import connection, database
from conversions.tenants import accounts
from conversions.tenants.accounts import key_cache
from tests.webhook_senders import body_of, event, hand_headers

URL = "/api/conversions/webhook?buyer_id=buyer-1"


@pytest.fixture
def long_cache(app):
    """Keys cached for ten minutes, so only invalidation can explain a change seen sooner."""
    key_cache.ttl = 600
    yield
    key_cache.ttl = float(app.config["KEY_CACHE_SECONDS"])


def send(client, secrets):
    body = body_of(event(event_id=None))
    return client.post(URL, data=body, headers=hand_headers(secrets, body)).status_code


def test_a_cached_keyring_ends_when_its_grace_ends(client, tenant, long_cache, frozen_clock):
    old = tenant["webhook_secret"]
    with connection():
        new = accounts.rotate(tenant["tenant_id"], "webhook", 60)["webhook_secret"]
    assert send(client, [old]) == 202  # cached now, with both keys
    frozen_clock.advance(61)
    assert send(client, [old]) == 401
    assert send(client, [new]) == 202


def test_a_change_counted_by_another_process_invalidates_the_cache(client, tenant, long_cache):
    assert send(client, [tenant["webhook_secret"]]) == 202
    with connection():
        keyring = key_cache.get("buyer_id", "buyer-1", "webhook")
        assert keyring is not None
        assert keyring.cached
        with database.atomic():
            generations.bump(generations.SIGNING_KEYS)  # as a rotation elsewhere does
        fresh = key_cache.get("buyer_id", "buyer-1", "webhook")
    assert fresh is not None
    assert not fresh.cached
