"""Protections every request gets: its body read within a deadline, a body limit on every
endpoint, and security headers.

Each route's body limit is a setting named in ``BODY_LIMITS`` (any other route:
``MAX_CONTENT_LENGTH``), applied by the body deadline before anything reads the body and by
``check_body_size`` before the view runs (docs/architecture.md walks a request through both).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from wsgi_hmac import BodyDeadline, Failure

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

RejectHook = Callable[["WSGIEnvironment", Failure], None]

# Each route's body limit, by endpoint: the setting that holds it, and whether the view reads
# the body as a stream (a CSV upload, up to 1 GiB) rather than whole from memory.
BODY_LIMITS = {
    "goals.track_goal": ("GOAL_MAX_BODY", False),
    "webhooks.receive_webhook": ("WEBHOOK_MAX_BODY", False),
    "postbacks.receive_postback": ("POSTBACK_MAX_BODY", False),
    "imports.import_csv": ("IMPORT_MAX_BODY", True),
    "settings_page.upload_csv": ("IMPORT_MAX_BODY", True),
}
DEFAULT_LIMIT = "MAX_CONTENT_LENGTH"

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


def body_limit(config: Mapping[str, Any], endpoint: str | None) -> int:
    """The body limit of the route ``endpoint`` names (None: no route matched)."""
    return int(config[BODY_LIMITS.get(endpoint or "", (DEFAULT_LIMIT, False))[0]])


def check_body_size() -> None:
    """Refuse a declared body over its route's limit with 413 JSON; the limit is also the
    one the request's own parsing keeps to (a chunked body's, a form's)."""
    limit = body_limit(current_app.config, request.endpoint)
    request.max_content_length = limit
    environ = request.environ
    # No declared body (a pixel's GET) or a verified one: nothing to parse the length for.
    if environ.get("CONTENT_LENGTH", "") in ("", "0") or environ.get("hmac.verified") is True:
        return
    if (request.content_length or 0) > limit:
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
    to ``BODY_READER_WAIT_SECONDS`` for one), before anything else runs, up to its route's
    limit; a streamed route's body is read by its view within ``BODY_TIMEOUT_SECONDS`` plus
    its length at ``BODY_STREAM_RATE`` (``wsgi_hmac.BodyDeadline``); ``on_reject``
    counts its refusals."""
    config = app.config
    in_memory = max(int(config[name]) for name, streamed in
                    [*BODY_LIMITS.values(), (DEFAULT_LIMIT, False)] if not streamed)
    routes = app.url_map.bind("localhost")  # the map is complete: this is called last
    # A path without parameters (the goal's, the webhook's) by a dict look-up, not the matcher.
    fixed = {(rule.rule, method): rule.endpoint for rule in app.url_map.iter_rules()
             if not rule.arguments for method in rule.methods or ()}

    def route_limit(environ: WSGIEnvironment) -> int:
        path, method = environ.get("PATH_INFO") or "/", environ.get("REQUEST_METHOD", "")
        endpoint = fixed.get((path, method))
        if endpoint is None:
            try:
                endpoint, _ = routes.match(path, method=method)
            except HTTPException:  # no such route, or a redirect: the small default
                endpoint = None
        return body_limit(config, endpoint)

    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, seconds=float(config["BODY_TIMEOUT_SECONDS"]),
        readers=int(config["BODY_READERS"]), wait=float(config["BODY_READER_WAIT_SECONDS"]),
        max_body=in_memory, body_limit=route_limit,
        stream_rate=float(config["BODY_STREAM_RATE"]), on_reject=on_reject)
