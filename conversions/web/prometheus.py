"""Prometheus' request figures: every answer's endpoint, method, status class and time,
refusals of the middlewares included (a WSGI wrapper outside them all)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from conversions.observability import instruments

# Where a request's endpoint is noted for the wrapper once Flask has routed it.
ENDPOINT_KEY = "conversions.endpoint"
# Methods named as such; any other is counted as "other" (a label value from a closed set).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# No route matched, or a middleware refused the request before Flask saw it on a path that
# is no route.
NO_ENDPOINT = "none"


class RequestFigures:
    """Wrap a WSGI app: count each answer and time it until the app returned."""

    def __init__(self, app: Any, flask_app: Flask) -> None:
        self.app = app
        self.adapter = flask_app.url_map.bind("localhost")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not instruments.enabled():
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        started = time.perf_counter()
        status = ["5"]

        def noting(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = code[:1]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, noting)  # type: ignore[no-any-return]
        finally:
            endpoint = environ.get(ENDPOINT_KEY) or self._route(environ)
            method = environ.get("REQUEST_METHOD", "")
            instruments.child(instruments.REQUESTS, endpoint,
                              method if method in METHODS else "other", status[0] + "xx").inc()
            instruments.child(instruments.REQUEST_SECONDS, endpoint).observe(
                time.perf_counter() - started)

    def _route(self, environ: dict[str, Any]) -> str:
        """The endpoint of a request Flask did not route (a middleware refused it)."""
        try:
            endpoint, _ = self.adapter.match(environ.get("PATH_INFO", "") or "/",
                                             method=environ.get("REQUEST_METHOD"))
        except HTTPException:
            return NO_ENDPOINT
        return str(endpoint)


def _note_endpoint() -> None:
    request.environ[ENDPOINT_KEY] = request.endpoint or NO_ENDPOINT


def init_app(app: Flask) -> None:
    """Count every request (call it last: the wrapper must be outermost)."""
    instruments.enable(bool(app.config["METRICS_ENABLED"]))
    app.before_request(_note_endpoint)
    app.wsgi_app = RequestFigures(app.wsgi_app, app)  # type: ignore[method-assign]
