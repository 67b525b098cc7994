"""The service's clock, injectable so tests can move time instead of sleeping."""
from __future__ import annotations

import time
from collections.abc import Callable

_source: Callable[[], float] = time.time


def now() -> float:
    """Current time in Unix seconds."""
    return _source()


def now_ms() -> int:
    """Current time in Unix milliseconds, as stored in the database."""
    return int(_source() * 1000)


def use(source: Callable[[], float] | None) -> None:
    """Read time from ``source`` (``None``: the system clock)."""
    global _source
    _source = source or time.time
