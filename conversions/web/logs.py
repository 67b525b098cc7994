"""Logging: one JSON object a line (or plain text), configured once per process, with every
postback token masked."""
from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask
from pythonjsonlogger.json import JsonFormatter

# A postback URL (``core.postback_providers.PATH``) holds its token, the tenant's secret:
# everything after the provider (whatever that holds but a slash or an ASCII space: a wrong
# one too), up to the query, a space, a quote or an escape, as a URL appears in a log line.
_TOKEN = re.compile(r"(/api/conversions/postback/[^/\s]*/)[^?#\s\"'\\<>]+", re.ASCII)
_MARK = "/api/conversions/postback/"  # most log lines lack it, and skip the pattern


def mask_tokens(text: str) -> str:
    """``text`` with the token of every postback URL in it shown as ``[token]``."""
    return _TOKEN.sub(r"\1[token]", text) if _MARK in text else text


def mask_path(path: str) -> str:
    """A URL path, decoded, and nothing around it (it may hold spaces and quotes, which end a
    URL in free text): everything after a postback's provider shown as ``[token]``."""
    if not path.startswith(_MARK):
        return path
    provider, slash, _ = path[len(_MARK):].partition("/")
    return f"{_MARK}{provider}/[token]" if slash else path


def _masked(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with tokens masked in its message, its exception's text and its stack."""
    if record.args or not isinstance(record.msg, str):
        try:
            message = record.getMessage()
        except Exception:  # a bad call: logging reports it when a handler formats it
            return record
        if _MARK in message and isinstance(record.args, Mapping):
            # Named arguments (gunicorn's access log atoms): a decoded path among them is
            # masked exactly, in place (its mapping may answer keys it does not hold).
            for key, value in list(record.args.items()):
                if isinstance(value, str) and value.startswith(_MARK):
                    record.args[key] = mask_path(value)  # type: ignore[index]
            message = record.getMessage()
        record.msg, record.args = mask_tokens(message), None
    else:
        record.msg = mask_tokens(record.msg)
    if record.exc_info and record.exc_info[0] is not None:
        # Formatted now, masked, and kept as the text every formatter shows (the traceback of
        # an error handling a postback may quote its URL).
        text = logging.Formatter().formatException(record.exc_info)
        masked = mask_tokens(text)
        if masked != text:
            record.exc_text, record.exc_info = masked, None
    if record.stack_info:
        record.stack_info = mask_tokens(record.stack_info)
    return record


def mask_every_record() -> None:
    """Make every log record of this process (the service's, Flask's, werkzeug's and
    gunicorn's, whatever handler writes it) with postback tokens masked: the record factory
    masks each as it is made. Idempotent."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masks_tokens", False):
        return

    def masking(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _masked(make(*args, **kwargs))

    masking.masks_tokens = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking)


def init_app(app: Flask) -> None:
    mask_every_record()
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
