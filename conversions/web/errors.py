"""The API's errors: one exception class, one JSON shape, one handler."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from peewee import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from conversions.core import budget
from conversions.observability import instruments

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """A refusal answered as ``{"error": code, "message": text, ...extra}``; its ``fields``
    (answered and stored) held to ``budget.MAX_FIELDS_BYTES``, with ``fields_omitted``
    counting the rest."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        if isinstance(extra.get("fields"), dict):
            extra["fields"], omitted = budget.capped_fields(extra["fields"])
            if omitted:
                extra["fields_omitted"] = omitted
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.extra}


# A 503 may follow a commit attempt whose outcome is unknown (a PostgreSQL commit lost with its
# connection, a writer process that did not answer in time): never "nothing was stored".
STORE_UNAVAILABLE_MESSAGE = ("Storage is unavailable or did not answer in time: the request may "
                             "have been stored; retrying is safe.")
RETRY_AFTER_SECONDS = "2"


def store_unavailable(body: dict[str, Any] | None = None) -> ResponseReturnValue:
    """503 with ``Retry-After``: the store is down (``body``: an endpoint's own shape)."""
    body = body or {"error": "store_unavailable", "message": STORE_UNAVAILABLE_MESSAGE}
    return jsonify(body), 503, {"Retry-After": RETRY_AFTER_SECONDS}


def invalid_event(fields: dict[str, Any]) -> ApiError:
    return ApiError(400, "invalid_event", "The event breaks a rule.", fields=fields)


def pii_rejected(fields: dict[str, Any]) -> ApiError:
    """Personal data found at ``fields`` (where, and of which kind; never the value)."""
    return ApiError(400, "pii_rejected",
                    "Personal data is not accepted; hash identifiers before sending.",
                    fields=fields)


# What a refusal leaves behind beyond its answer, by blueprint: ``(error, status, detail)``.
RefusalHook = Callable[[str, int, Any], None]
_HOOKS = "conversions.refusal_hooks"


def on_refusal(app: Flask, blueprint: str, hook: RefusalHook) -> None:
    """Have ``hook`` called for each refusal answered by ``blueprint``'s views."""
    app.extensions.setdefault(_HOOKS, {})[blueprint] = hook


def count_rejection(error: str, status: int = 400, detail: Any = None) -> None:
    """Hand a refusal to its blueprint's hook (the ingestion blueprints count it and keep a
    verified event as a dead letter or a test verdict: ``ingest/rejections.py``)."""
    hook = current_app.extensions.get(_HOOKS, {}).get(request.blueprint or "")
    if hook is not None:
        hook(error, status, detail)


def register(app: Flask) -> None:
    """Answer every error, framework or ours, with the one JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> ResponseReturnValue:
        count_rejection(err.error, err.status, err.extra.get("fields"))
        return jsonify(err.body()), err.status, err.headers

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> ResponseReturnValue:
        status = err.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        count_rejection(code, status)
        headers = dict(err.get_headers()) if status == 405 else {}
        headers.pop("Content-Type", None)
        return jsonify({"error": code, "message": err.description}), status, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _store_unavailable(err: Exception) -> ResponseReturnValue:
        log.warning("store unavailable", extra={"error_type": type(err).__name__})
        count_rejection("store_unavailable", 503)
        instruments.store_unavailable(type(err).__name__)
        return store_unavailable()

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        body = {"error": "internal_error", "message": "Unexpected error."}
        return jsonify(body), 500
