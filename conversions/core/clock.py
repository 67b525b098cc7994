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


def offset_file(path: str) -> Callable[[], float]:
    """The system clock shifted by the seconds written in ``path`` (missing or empty: 0).

    A test and operations aid (``CLOCK_FILE``): every process reading the same file agrees
    on the shifted time, so a real multi-worker server can be moved hours ahead at once.
    """

    def shifted() -> float:
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except FileNotFoundError:
            text = ""
        return time.time() + (float(text) if text else 0.0)

    return shifted


def use(source: Callable[[], float] | None) -> None:
    """Read time from ``source`` (``None``: the system clock)."""
    global _source
    _source = source or time.time
