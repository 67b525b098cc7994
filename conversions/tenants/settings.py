"""Per-tenant settings: overrides of configuration defaults, validated and cached.

A name may be scoped to a source (``freshness_window_seconds.pixel``); a lookup falls back
from the source-scoped name to the tenant-wide one, then to the app's configuration.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import current_app
from limits import parse_many

from conversions.core import clock
from conversions.core.sources import WATCHED
from conversions.store.database import connection
from conversions.store.models import TenantSetting


def _seconds(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        text = str(text).strip()
        digits = text.lstrip("0") or text[:1]
        if not digits.isdigit() or len(digits) > len(str(high)):  # bounded before int()
            raise ValueError("must be a whole number of seconds")
        value = int(digits)
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high} seconds")
        return value

    return parse


def _rate_limit(text: str) -> str:
    try:
        parse_many(text)
    except ValueError:
        raise ValueError("must be a rate limit such as '600 per minute'") from None
    return text.strip()


# name -> (parser, configuration key holding the default)
SETTINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "freshness_window_seconds": (_seconds(60, 30 * 86400), "FRESHNESS_WINDOW_SECONDS"),
    # Read by the writer too (``store.cross_channel.WINDOW_SETTING``), as whole seconds.
    "dedup_window_seconds": (_seconds(60, 30 * 86400), "DEDUP_WINDOW_SECONDS"),
    "rate_limit": (_rate_limit, "RATELIMIT_INGEST"),
}


# Settings without a per-source value.
TENANT_WIDE = ("dedup_window_seconds",)


def scopes(base: str) -> tuple[str, ...]:
    """Where ``base`` may be set: tenant-wide (""), and for each watched source unless it is
    ``TENANT_WIDE``."""
    return ("",) if base in TENANT_WIDE else ("", *WATCHED)


def _split(name: str) -> tuple[str, str | None]:
    base, _, source = name.partition(".")
    if base not in SETTINGS or (source and source not in scopes(base)):
        raise ValueError(f"unknown setting {name}")
    return base, source or None


class _Cache:
    def __init__(self) -> None:
        self.loaded: dict[str, tuple[float, dict[str, str]]] = {}
        self.lock = threading.Lock()

    def values(self, tenant_id: str, ttl: float) -> dict[str, str]:
        entry = self.loaded.get(tenant_id)
        if entry and time.monotonic() - entry[0] < ttl:
            return entry[1]
        with connection():
            rows = TenantSetting.select().where(TenantSetting.tenant == tenant_id)
            values = {row.name: row.value for row in rows}
        with self.lock:
            self.loaded[tenant_id] = (time.monotonic(), values)
        return values

    def forget(self, tenant_id: str | None = None) -> None:
        with self.lock:
            if tenant_id is None:
                self.loaded.clear()
            else:
                self.loaded.pop(tenant_id, None)


_cache = _Cache()


def get(tenant_id: str, name: str, source: str | None = None) -> Any:
    """The tenant's value of ``name`` for ``source``, else tenant-wide, else configured."""
    base, _ = _split(name)
    config_key = SETTINGS[base][1]
    values = _cache.values(tenant_id, float(current_app.config["KEY_CACHE_SECONDS"]))
    for key in ((f"{base}.{source}",) if source else ()) + (base,):
        if key in values:
            return _parsed(base, values[key])
    return _parsed(base, str(current_app.config[config_key]))


@lru_cache(maxsize=1024)
def _parsed(base: str, text: str) -> Any:
    """A stored text parsed once, not on every request (parsers are pure)."""
    return SETTINGS[base][0](text)


def put(tenant_id: str, name: str, text: str) -> Any:
    """Validate and save ``name`` for the tenant; returns the parsed value."""
    base, _ = _split(name)
    # As stored, and before any parsing: flask-limiter's rate-limit pattern is quadratic in
    # runs of spaces.
    limit = TenantSetting.value.max_length
    if len(str(text)) > limit:
        raise ValueError(f"must be at most {limit} characters")
    value = SETTINGS[base][0](text)
    with connection():
        (TenantSetting.insert(tenant=tenant_id, name=name, value=str(text).strip(),
                              updated_at_ms=clock.now_ms())
         .on_conflict(conflict_target=[TenantSetting.tenant, TenantSetting.name],
                      preserve=[TenantSetting.value, TenantSetting.updated_at_ms])
         .execute())
    _cache.forget(tenant_id)
    return value


def clear(tenant_id: str, name: str) -> None:
    """Drop the tenant's override of ``name``, returning it to the default."""
    _split(name)
    with connection():
        TenantSetting.delete().where(TenantSetting.tenant == tenant_id,
                                     TenantSetting.name == name).execute()
    _cache.forget(tenant_id)


def overrides(tenant_id: str) -> dict[str, str]:
    """Every override the tenant has, by name."""
    with connection():
        rows = TenantSetting.select().where(TenantSetting.tenant == tenant_id)
        return {row.name: row.value for row in rows}
