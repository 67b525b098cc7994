"""Protections every response gets: a body limit on every endpoint and security headers.

Signed routes have their own per-route limits in the middleware (a 1 MiB webhook is not
refused by the 64 KiB default here); everything else is held to ``MAX_CONTENT_LENGTH``
before the view runs, whether or not the view reads the body.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

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


def check_body_size() -> None:
    """Refuse a declared body over the limit with 413 JSON (signed routes checked already)."""
    if request.environ.get("hmac.verified") is True:
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > int(limit):
        # Werkzeug's own error, so a blueprint's handler (the pixel's GIF) still answers it.
        raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")


def add_headers(response: Response) -> Response:
    """Security headers a view did not set itself (a page may set a stricter policy)."""
    headers = {**ALL_HEADERS, **(HTML_HEADERS if response.mimetype == "text/html" else {})}
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_body_size)
    app.after_request(add_headers)
