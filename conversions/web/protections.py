"""Protections every request gets: its body read within a deadline, a body limit on every
endpoint, and security headers.

Signed routes have their own per-route limits in the middleware (a 1 MiB webhook is not
refused by the 64 KiB default here); everything else is held to ``MAX_CONTENT_LENGTH``
before the view runs, whether or not the view reads the body.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from wsgi_hmac import BodyDeadline, Failure

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

RejectHook = Callable[["WSGIEnvironment", Failure], None]

# HTML pages load only this origin's scripts, styles and images (no inline ones), are never
# framed (clickjacking), post forms only back here and send no referrer.
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
ALL_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# What add_headers adds, by whether the answer is HTML: (lower-case name, name, value).
_ADDED = {html: [(name.lower(), name, value) for name, value in
                 {**ALL_HEADERS, **(HTML_HEADERS if html else {})}.items()]
          for html in (False, True)}


def check_body_size() -> None:
    """Refuse a declared body over the limit with 413 JSON (signed routes checked already)."""
    environ = request.environ
    # No declared body (a pixel's GET) or a verified one: nothing to parse the length for.
    if environ.get("CONTENT_LENGTH", "") in ("", "0") or environ.get("hmac.verified") is True:
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > int(limit):
        # Werkzeug's own error, so a blueprint's handler (the pixel's GIF) still answers it.
        raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")


def add_headers(response: Response) -> Response:
    """Security headers a view did not set itself (a page may set a stricter policy)."""
    present = set(response.headers.keys(lower=True))  # one pass, not one a header added
    response.headers.extend([(name, value) for lower, name, value
                             in _ADDED[response.mimetype == "text/html"] if lower not in present])
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_body_size)
    app.after_request(add_headers)


def read_bodies_in_time(app: Flask, on_reject: RejectHook) -> None:
    """Wrap the whole WSGI stack (so call it last): every body is read within
    ``BODY_TIMEOUT_SECONDS`` by at most ``BODY_READERS`` threads a process (a body waits up
    to ``BODY_READER_WAIT_SECONDS`` for one), before anything else runs
    (``middleware/body_deadline.py``); ``on_reject`` counts its refusals."""
    config = app.config
    largest = max(int(config[name]) for name in ("MAX_CONTENT_LENGTH", "GOAL_MAX_BODY",
                                                 "WEBHOOK_MAX_BODY"))
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, seconds=float(config["BODY_TIMEOUT_SECONDS"]),
        readers=int(config["BODY_READERS"]), wait=float(config["BODY_READER_WAIT_SECONDS"]),
        max_body=largest, on_reject=on_reject)
