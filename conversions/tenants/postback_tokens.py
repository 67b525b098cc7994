"""Postback tokens and address allow-lists: the defences providers that cannot sign offer.

AppsFlyer and Adjust cannot sign a postback with HMAC; their documented defences are a secret
in the URL and an IP allow-list. A token is shown once and kept only as its SHA-256 (a
high-entropy secret needs no slow hash), so the database never holds a usable token. Several
tokens may be live, so a provider can be moved to a new one before the old is revoked.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from conversions.core import clock
from conversions.core.postback_providers import urls
from conversions.store.database import connection, database
from conversions.store.models import PostbackKey, PostbackNetwork

PREFIX = "pb_"
HINT = 10  # characters kept in clear: the prefix and seven random ones
MAX_NETWORKS = 50

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# IPv6's IPv4-mapped addresses (::ffff:a.b.c.d), RFC 4291 section 2.5.5.2.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
Found = tuple[str | None, list[Network]]  # a token's tenant (None: unknown) and allow-list


class PostbackError(ValueError):
    """A token or allow-list change that cannot be carried out."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(tenant_id: str, base_url: str) -> dict[str, Any]:
    """A new live token for the tenant: the only time it is returned, with its URLs."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = PostbackKey.create(tenant=tenant_id, key_hash=digest(token), hint=token[:HINT],
                               created_at_ms=clock.now_ms())
    return {"tenant_id": tenant_id, "token_id": str(row.id), "token": token,
            "urls": urls(base_url, token)}


def find(presented: str) -> PostbackKey | None:
    """The live row of the token ``presented``: found by its first characters (shown on the
    settings page anyway), then its hash compared in constant time."""
    wanted = digest(presented)
    candidates = PostbackKey.select().where(PostbackKey.hint == presented[:HINT],
                                              PostbackKey.revoked_at_ms.is_null())
    return next((row for row in candidates if hmac.compare_digest(row.key_hash, wanted)),
                None)


def revoke(tenant_id: str, named: str) -> dict[str, Any]:
    """End a token of the tenant, named by the token itself or by its id as listed."""
    if named.isdigit():
        row = PostbackKey.get_or_none(PostbackKey.id == int(named),
                                      PostbackKey.revoked_at_ms.is_null())
    else:
        row = find(named)
    if row is None or row.tenant_id != tenant_id:
        raise PostbackError("no live postback token of this tenant matches")
    row.revoked_at_ms = clock.now_ms()
    row.save()
    token_cache.clear()
    return {"tenant_id": tenant_id, "token_id": str(row.id), "hint": row.hint,
            "revoked_at_ms": row.revoked_at_ms}


def live(tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's live tokens, as they may be shown: id, first characters, creation."""
    rows = (PostbackKey.select().where(PostbackKey.tenant == tenant_id,
                                         PostbackKey.revoked_at_ms.is_null())
            .order_by(PostbackKey.id))
    return [{"token_id": str(row.id), "hint": row.hint, "created_at_ms": row.created_at_ms}
            for row in rows]


class TokenCache:
    """Per-process cache: token digest -> (tenant id or None, allowed networks).

    Live tokens and unknown ones are kept apart, each bounded (the oldest entry leaves
    first): misses, which anyone can make by the thousand, fill their own part and never
    push out a live token. With caching on (``ttl`` above 0), an unknown token is kept for
    at least ``UNKNOWN_SECONDS``: a token is random, so one unknown (or revoked) now stays
    so, and a provider still sending a revoked one costs a look-up (and a failed-token
    count) a minute, not one a request. ``revoke`` and ``set_networks`` clear the cache.
    """

    UNKNOWN_SECONDS = 60.0

    def __init__(self, live: int = 10_000, unknown: int = 4_096) -> None:
        self._bounds = {True: live, False: unknown}
        self._parts: dict[bool, OrderedDict[str, tuple[float, Found]]] = {
            True: OrderedDict(), False: OrderedDict()}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            for part in self._parts.values():
                part.clear()

    def cached(self, token: str, ttl: float) -> Found | None:
        """The token's tenant and allow-list if looked up less than ``ttl`` seconds ago;
        None: ``load`` it."""
        key = digest(token)
        unknown_ttl = max(ttl, self.UNKNOWN_SECONDS) if ttl > 0 else 0
        for known, ages in ((True, ttl), (False, unknown_ttl)):
            entry = self._parts[known].get(key)
            if entry is not None and time.monotonic() - entry[0] < ages:
                return entry[1]
        return None

    def load(self, token: str) -> Found:
        """Look the token up in the store and cache what was found."""
        with connection():
            row = find(token)
            tenant_id = row.tenant_id if row else None
            allowed = [allowed_network(cidr) for cidr in networks(tenant_id)] \
                if tenant_id else []
        key, known = digest(token), tenant_id is not None
        part = self._parts[known]
        with self._lock:
            self._parts[not known].pop(key, None)
            part[key] = (time.monotonic(), (tenant_id, allowed))
            part.move_to_end(key)
            while len(part) > self._bounds[known]:
                part.popitem(last=False)
        return tenant_id, allowed


token_cache = TokenCache()


def networks(tenant_id: str) -> list[str]:
    """The tenant's allow-list as CIDR text; empty: postbacks from any address."""
    rows = (PostbackNetwork.select(PostbackNetwork.cidr)
            .where(PostbackNetwork.tenant == tenant_id).order_by(PostbackNetwork.id))
    return [row.cidr for row in rows]


def allowed_network(text: str) -> Network:
    """An allow-list entry as a network; one of IPv4-mapped IPv6 addresses as the IPv4 range
    it maps, so it matches the IPv4 senders it names (and their mapped form)."""
    network = ipaddress.ip_network(text, strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF,
                                      network.prefixlen - 96))
    return network


def parse_networks(text: str) -> list[str]:
    """CIDR ranges (or single addresses) separated by commas, spaces or lines, normalised."""
    found = []
    for part in text.replace(",", " ").split():
        try:
            found.append(str(allowed_network(part)))
        except ValueError:
            raise PostbackError(f"{part} is not an IP address or CIDR range") from None
    if len(found) > MAX_NETWORKS:
        raise PostbackError(f"at most {MAX_NETWORKS} ranges")
    return list(dict.fromkeys(found))


def set_networks(tenant_id: str, text: str) -> list[str]:
    """Replace the tenant's allow-list (blank text: allow any address)."""
    cidrs = parse_networks(text)
    now = clock.now_ms()
    with database.atomic():
        PostbackNetwork.delete().where(PostbackNetwork.tenant == tenant_id).execute()
        for cidr in cidrs:
            PostbackNetwork.create(tenant=tenant_id, cidr=cidr, created_at_ms=now)
    token_cache.clear()
    return cidrs


def address_allowed(allowed: list[Network], address: str | None) -> bool:
    """Whether ``address`` (as ProxyFix leaves it) is in the allow-list; empty allows all."""
    if not allowed:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed if network.version == ip.version)
