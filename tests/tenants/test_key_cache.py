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


def test_unknown_names_never_push_a_tenants_keys_out(client, tenant, long_cache):
    """Unknown buyer ids by the thousand fill their own bounded part of the cache: the
    tenant's keyring stays cached (before, 10,001 misses cleared every entry)."""
    cache = accounts.KeyCache(ttl=600, unknown=64)
    with connection():
        assert cache.get("buyer_id", "buyer-1", "webhook") is not None
        for number in range(10_001):
            assert cache.get("buyer_id", f"nobody-{number}", "webhook") is None
        kept = cache.get("buyer_id", "buyer-1", "webhook")
    assert kept is not None
    assert kept.cached
    assert len(cache._parts[False]) == 64
