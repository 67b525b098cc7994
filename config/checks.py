"""Start-up checks of settings that are wrong only in combination with how the app is served."""
from __future__ import annotations

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
