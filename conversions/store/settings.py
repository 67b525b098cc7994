"""What the store's modules read of the service's configuration, given once by
``store.schema.configure`` (the app factory calls it): the store imports neither Flask nor
``config``. ``config/defaults.py`` documents each setting under its upper-case name.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Settings:
    dedup_window_seconds: int
    failures_max_rows: int
    failures_max_age_days: int
    failures_max_payload: int
    failures_page_max_bytes: int
    test_events_max_rows: int
    test_events_max_payload: int

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Settings:
        """The settings ``config`` (the app's configuration) holds."""
        return cls(**{field.name: int(config[field.name.upper()]) for field in fields(cls)})


_current: Settings | None = None


def configure(settings: Settings) -> None:
    global _current
    _current = settings


def current() -> Settings:
    """The settings given last; an error before any (no app made yet)."""
    if _current is None:
        raise RuntimeError("the store is not configured (store.schema.configure)")
    return _current
