"""Start-up checks of settings that are wrong only in combination with how the app is served
or with each other."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import load


def rate_limit_storage_warning(workers: int, storage_uri: str | None = None) -> str | None:
    """A warning when rate limits would be counted per process instead of shared; else None.

    ``storage_uri`` defaults to the configured ``RATELIMIT_STORAGE_URI`` (environment included).
    """
    if storage_uri is None:
        app = Flask("conversions")
        load(app)
        storage_uri = str(app.config["RATELIMIT_STORAGE_URI"])
    if workers > 1 and storage_uri.startswith("memory://"):
        return (f"RATELIMIT_STORAGE_URI is {storage_uri} with {workers} workers: each worker "
                f"counts its own requests, so a limit lets up to {workers} times as many through. "
                "Set RATELIMIT_STORAGE_URI=redis://host:6379 to share the counts between workers "
                "and instances.")
    return None


def oldest_accepted_seconds(config: Mapping[str, Any]) -> float:
    """The age of the oldest event time the service accepts: an offline import's, a live
    event's, or a live event's replayed from a dead letter kept for its whole retention."""
    live = float(config["EVENT_MAX_AGE_SECONDS"])
    return max(float(config["IMPORT_MAX_AGE_SECONDS"]), live,
               float(config["FAILURES_MAX_AGE_DAYS"]) * 86400 + live)


def retention_error(config: Mapping[str, Any]) -> str | None:
    """Why RAW_EVENT_RETENTION_DAYS cannot work with the other settings; None when it can.

    A period's rollup is recomputed from its raw events whenever one of them arrives, so
    raw events must be kept longer than the oldest event time accepted, plus a day for the
    aggregation to reach it.
    """
    days = config["RAW_EVENT_RETENTION_DAYS"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        return f"RAW_EVENT_RETENTION_DAYS must be a whole number of days (0: keep), not {days!r}"
    needed = int(oldest_accepted_seconds(config) // 86400) + 1
    if days and days < needed:
        return (f"RAW_EVENT_RETENTION_DAYS is {days}: it must be at least {needed} days, a "
                "day beyond the oldest event the service accepts (IMPORT_MAX_AGE_SECONDS, "
                "EVENT_MAX_AGE_SECONDS, a dead letter replayed after FAILURES_MAX_AGE_DAYS), "
                "so no accepted event lands in a period whose raw events are pruned.")
    return None
