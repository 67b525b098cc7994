"""Logging: one JSON object a line (or plain text), configured once per process."""
from __future__ import annotations

import logging
import sys

from flask import Flask
from pythonjsonlogger.json import JsonFormatter


def init_app(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_conversions", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._conversions = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for handler in root.handlers:
        if getattr(handler, "_conversions", False):
            handler.setFormatter(
                JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                              rename_fields={"levelname": "level", "asctime": "time"})
                if app.config["LOG_FORMAT"] == "json"
                else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
    root.setLevel(app.config["LOG_LEVEL"])
