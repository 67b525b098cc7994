"""Configuration: defaults, then the environment, then explicit overrides."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import defaults


def load(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill ``app.config``; an explicit override beats the environment, which beats defaults."""
    app.config.from_object(defaults)
    for name in ("DATABASE_URL", "RATELIMIT_STORAGE_URI"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    app.config.from_prefixed_env("CONVERSIONS")
    if overrides:
        app.config.update(overrides)
    if not app.config.get("DATABASE_URL"):
        path = os.path.join(app.instance_path, "conversions.db")
        app.config["DATABASE_URL"] = f"sqlite:///{path}"
