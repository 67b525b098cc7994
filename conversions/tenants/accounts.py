"""Tenants and their secrets: creation, rotation with a grace period, key lookup."""
from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from conversions.core import clock
from conversions.core.sources import SECRET_KINDS
from conversions.store import generations
from conversions.store.database import connection, database
from conversions.store.models import SigningKey, Tenant
from wsgi_hmac import Key, Keyring


class TenantError(ValueError):
    """A tenant command that cannot be carried out (duplicate domain, unknown tenant...)."""


# The longest an old secret keeps verifying after a rotation: long enough to roll a new
# secret out to every sender, short enough that a rotation really retires the old one.
MAX_GRACE_SECONDS = 30 * 86400


def _new_secret(kind: str) -> tuple[bytes, str]:
    """Fresh key bytes and their one-time display form."""
    raw = secrets.token_bytes(32)
    shown = raw.hex() if kind == "pixel" else "whsec_" + base64.b64encode(raw).decode()
    return raw, shown


def public(tenant: Tenant) -> dict[str, Any]:
    """A tenant as it may be shown anywhere: no secret."""
    return {
        "tenant_id": tenant.id,
        "domain": tenant.domain,
        "buyer_id": tenant.buyer_id,
        "created_at_ms": tenant.created_at_ms,
    }


def create(domain: str, buyer_id: str | None = None) -> dict[str, Any]:
    """Create a tenant with both secrets; the only time they are returned with it."""
    domain = domain.strip().lower()
    if (not domain or len(domain) > 253 or not domain.isprintable()
            or any(c.isspace() or c == "/" for c in domain)):
        raise TenantError("domain must be a host name such as shop.example.com")
    # As pixels and webhooks can name it: at most 64 printable characters, no outer spaces.
    if buyer_id and (len(buyer_id) > 64 or not buyer_id.isprintable()
                     or buyer_id != buyer_id.strip()):
        raise TenantError("buyer id must be at most 64 printable characters, no outer spaces")
    now = clock.now_ms()
    with database.atomic():
        if Tenant.get_or_none(Tenant.domain == domain):
            raise TenantError(f"a tenant with domain {domain} exists already")
        if buyer_id and Tenant.get_or_none(Tenant.buyer_id == buyer_id):
            raise TenantError(f"a tenant with buyer id {buyer_id} exists already")
        tenant = Tenant.create(id=str(uuid.uuid4()), domain=domain, buyer_id=buyer_id or None,
                               created_at_ms=now)
        shown = {}
        for kind in SECRET_KINDS:
            raw, shown[kind] = _new_secret(kind)
            SigningKey.create(tenant=tenant, kind=kind, secret=raw, created_at_ms=now)
        generations.bump(generations.SIGNING_KEYS)  # a cached "no such tenant" is stale
    return {**public(tenant), "pixel_secret": shown["pixel"], "webhook_secret": shown["webhook"]}


def rotate(tenant_id: str, kind: str, grace_seconds: int = 0) -> dict[str, Any]:
    """Issue a new ``kind`` secret; keys live now stay valid ``grace_seconds`` longer."""
    if kind not in SECRET_KINDS:
        raise TenantError(f"kind must be one of {', '.join(SECRET_KINDS)}")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise TenantError(f"grace must be from 0 to {MAX_GRACE_SECONDS} seconds (30 days)")
    now = clock.now_ms()
    until = now + grace_seconds * 1000
    with database.atomic():
        tenant = Tenant.get_or_none(Tenant.id == tenant_id)
        if tenant is None:
            raise TenantError(f"no tenant {tenant_id}")
        (SigningKey.update(expires_at_ms=until)
         .where(SigningKey.tenant == tenant, SigningKey.kind == kind,
                SigningKey.expires_at_ms.is_null() | (SigningKey.expires_at_ms > until))
         .execute())
        raw, shown = _new_secret(kind)
        SigningKey.create(tenant=tenant, kind=kind, secret=raw, created_at_ms=now)
        # Every process's cached keys are stale from the commit on: a grace of 0 ends the old
        # key at once everywhere, not when caches age.
        generations.bump(generations.SIGNING_KEYS)
    name = "pixel_secret" if kind == "pixel" else "webhook_secret"
    return {**public(tenant), name: shown, "previous_valid_until_ms": until}


def id_by_domain(domain: str) -> str:
    """The id of the tenant with ``domain`` (as the CLI names tenants)."""
    tenant_id = Tenant.select(Tenant.id).where(Tenant.domain == domain.strip().lower()).scalar()
    if tenant_id is None:
        raise TenantError(f"no tenant with domain {domain}")
    return str(tenant_id)


def live_keys(tenant_id: str, kind: str) -> tuple[list[Key], int | None]:
    """The tenant's live ``kind`` keys, newest first, and when the first of them expires
    (Unix ms; None: none does)."""
    now = clock.now_ms()
    rows = (SigningKey.select(SigningKey.id, SigningKey.secret, SigningKey.expires_at_ms)
            .where(SigningKey.tenant == tenant_id, SigningKey.kind == kind,
                   SigningKey.expires_at_ms.is_null() | (SigningKey.expires_at_ms > now))
            .order_by(SigningKey.id.desc()))
    keys, ends = [], []
    for row in rows:
        keys.append(Key(str(row.id), bytes(row.secret)))
        if row.expires_at_ms is not None:
            ends.append(row.expires_at_ms)
    return keys, min(ends, default=None)


@dataclass
class _Entry:
    keyring: Keyring | None
    loaded_at: float
    generation: int
    valid_until_ms: int | None  # when a key of it expires (a rotation's grace ends)


class KeyCache:
    """Per-process cache of keyrings by (field, value, kind).

    An entry is used for at most ``ttl`` seconds, and only while the ``signing-keys``
    generation is the one it was loaded at (``generations``: any change of a secret, in any
    process, bumps it) and none of its keys has expired: a rotation takes effect at once.
    """

    def __init__(self, ttl: float = 2.0, known: int = 10_000, unknown: int = 4_096) -> None:
        self.ttl = ttl
        # Tenants found and names that found none, kept apart and each bounded (the oldest
        # entry leaves first): unknown buyer ids or domains, which anyone can send by the
        # thousand, fill their own part and never push out a tenant's keys.
        self._bounds = {True: known, False: unknown}
        self._parts: dict[bool, OrderedDict[tuple[str, str, str], _Entry]] = {
            True: OrderedDict(), False: OrderedDict()}
        self._lock = threading.Lock()

    def get(self, field: str, value: str, kind: str, fresh: bool = False,
            keys_needed: bool = True) -> Keyring | None:
        """The keyring of the tenant whose ``field`` is ``value``, or None if there is none.

        ``keys_needed=False``: the caller uses only the tenant id (the pixel), which no
        rotation changes, so the entry is only aged and the generation is not read.
        """
        key = (field, value, kind)
        entry = self._parts[True].get(key) or self._parts[False].get(key)
        now = time.monotonic()
        usable = entry is not None and not fresh and now - entry.loaded_at < self.ttl
        if usable and not keys_needed:
            return _cached(entry)
        with connection():
            if usable and self._current(entry):
                return _cached(entry)
            return self._load(key, now)

    def _load(self, key: tuple[str, str, str], now: float) -> Keyring | None:
        field, value, kind = key
        # The generation is read first: a change committed after it leaves the entry stale,
        # never the other way round.
        generation = generations.current(generations.SIGNING_KEYS)
        tenant_id = Tenant.select(Tenant.id).where(getattr(Tenant, field) == value).scalar()
        keys, valid_until_ms = live_keys(tenant_id, kind) if tenant_id else ([], None)
        keyring = Keyring(tenant_id, keys) if tenant_id else None
        known = keyring is not None
        part = self._parts[known]
        with self._lock:
            self._parts[not known].pop(key, None)
            part[key] = _Entry(keyring, now, generation, valid_until_ms)
            part.move_to_end(key)
            while len(part) > self._bounds[known]:
                part.popitem(last=False)
        return keyring

    @staticmethod
    def _current(entry: _Entry | None) -> bool:
        return entry is not None and (
            entry.generation == generations.current(generations.SIGNING_KEYS)
            and (entry.valid_until_ms is None or clock.now_ms() < entry.valid_until_ms))


def _cached(entry: _Entry | None) -> Keyring | None:
    if entry is None or entry.keyring is None:
        return None
    return Keyring(entry.keyring.tenant_id, entry.keyring.keys, cached=True)


key_cache = KeyCache()
