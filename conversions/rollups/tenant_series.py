"""Which tenant label an event's count carries in Prometheus: the domain of a tenant named in
``METRICS_TENANTS`` (at most ``MAX_TENANTS``), ``other`` for every other tenant, or none at
all when no tenant is named (the default). A label per tenant is a series per tenant, which
Prometheus pays for in memory: the operator names the few worth it (docs/deployment.md).

The named domains are looked up once, and again at most once a minute while one of them is
no tenant yet; the request path then only reads a dict.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from flask import Flask
from peewee import PeeweeException

from conversions.store.database import connection
from conversions.store.models import Tenant

MAX_TENANTS = 20
OTHER = "other"
RETRY_SECONDS = 60.0

_lock = threading.Lock()
_domains: frozenset[str] = frozenset()
_labels: dict[str, str] = {}  # tenant id -> its domain, for the named tenants found
_looked_up_at: float | None = None


def parse(setting: str | Iterable[str]) -> frozenset[str]:
    """The domains of ``METRICS_TENANTS`` (comma-separated, or a list); ValueError past the cap."""
    names = setting.split(",") if isinstance(setting, str) else setting
    domains = frozenset(name.strip().lower() for name in names if name.strip())
    if len(domains) > MAX_TENANTS:
        raise ValueError(f"METRICS_TENANTS names {len(domains)} tenants: at most "
                         f"{MAX_TENANTS} get their own series (the rest count as {OTHER})")
    return domains


def configure(domains: frozenset[str]) -> None:
    global _domains, _looked_up_at
    with _lock:
        _domains, _looked_up_at = domains, None
        _labels.clear()


def label(tenant_id: str | None) -> str | None:
    """The tenant label for an event of ``tenant_id`` (None: per-tenant series are off)."""
    if not _domains:
        return None
    if tenant_id is None:
        return OTHER
    found = _labels.get(tenant_id)
    if found is None and len(_labels) < len(_domains):
        with _lock:  # a look-up under way is waited for, not answered "other" meanwhile
            if _looked_up_at is None or time.monotonic() - _looked_up_at >= RETRY_SECONDS:
                _look_up()
        found = _labels.get(tenant_id)
    return found or OTHER


def _look_up() -> None:
    """Find the named tenants' ids (the caller holds the lock)."""
    global _looked_up_at
    _looked_up_at = time.monotonic()
    try:
        with connection():
            rows = list(Tenant.select(Tenant.id, Tenant.domain)
                        .where(Tenant.domain.in_(sorted(_domains))).tuples())
    except PeeweeException:
        return  # counted as "other" until the store answers a later look-up
    _labels.update(rows)


def init_app(app: Flask) -> None:
    configure(parse(app.config["METRICS_TENANTS"]))
