"""Flask-Limiter for this app: a limiter each app of its own (``limiter_of``), its shared store
(``RATELIMIT_STORAGE_URI``), the 429 answer, and failing open while the store is unreachable.

Counters live in ``memory://`` per process or in ``redis://`` shared by every worker and
instance. The client address is ``REMOTE_ADDR`` as ``web.proxies`` leaves it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache, partial, wraps
from typing import Any

from flask import Flask, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from redis.exceptions import RedisError

from conversions.observability import instruments
from conversions.web import errors, limit_sweeper

log = logging.getLogger(__name__)
# Where an app keeps its limiter, in ``app.extensions``.
EXTENSION = "conversions.rate_limits"
# The attribute by which ``limit`` marks a view: its limit's value and options.
MARK = "conversions_rate_limit"

# An unreachable limit store must neither refuse nor lose events: limits fail open, and say
# so in the log (at most once a minute a process).
STORE_ERRORS = (OSError, RedisError)
_warned_at = 0.0


def store_unavailable(err: Exception) -> None:
    """Note that the limit store failed (``err``): the request goes on unlimited."""
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        log.warning("rate-limit store unavailable: requests are not limited",
                    extra={"error_type": type(err).__name__})


def retry_after(reset_at: float) -> int:
    """Whole seconds until ``reset_at`` (Unix seconds), at least 1."""
    return max(1, int(reset_at - time.time()) + 1)


def too_many(limit: object, wait: int) -> ResponseReturnValue:
    """The JSON 429 for ``limit`` (its text), retry in ``wait`` seconds."""
    body = {"error": "rate_limited", "retry_after": wait,
            "message": f"Too many requests (at most {limit}); retry in {wait} s."}
    return jsonify(body), 429, {"Retry-After": str(wait)}


@lru_cache(maxsize=64)
def parsed(text: str) -> RateLimitItem:
    """A limit such as ``600 per minute``, parsed once."""
    return parse(text)


def limiter_of(app: Flask) -> Limiter:
    """The limiter ``init_app`` bound to ``app``."""
    limiter: Limiter = app.extensions[EXTENSION]
    return limiter


def _rate_limited(err: RateLimitExceeded) -> ResponseReturnValue:
    current = limiter_of(current_app).current_limit
    wait = retry_after(current.reset_at) if current else 60
    errors.count_rejection("rate_limited")
    instruments.rate_limited("route")
    if err.response is not None:
        err.response.headers["Retry-After"] = str(wait)
        return err.response
    return too_many(err.description, wait)


def init_app(app: Flask) -> None:
    """Give ``app`` a limiter of its own (one keeps the store and settings of the app it was
    last bound to), its store failing fast and open, and limit the views ``limit`` marked:
    call it once the blueprints are registered."""
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        # A Redis that hangs must not hang ingestion: give up quickly and fail open.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {
            "socket_timeout": float(app.config["RATELIMIT_REDIS_TIMEOUT_SECONDS"]),
            "socket_connect_timeout": float(app.config["RATELIMIT_REDIS_TIMEOUT_SECONDS"]),
        })
    limiter = Limiter(get_remote_address)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    if limiter.enabled:
        limit_sweeper.adopt(limiter.storage)
    if not (app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")):
        # No limit on every route: the ingestion endpoints count their own
        # (``ingest.limits``) and ``limit`` checks its view itself, so flask-limiter's
        # before-request resolution (empty) is spared on every request.
        hooks = app.before_request_funcs.get(None, [])
        hooks[:] = [hook for hook in hooks if not _of_limiter(hook, limiter)]
    _limit_marked_views(app, limiter)
    _after_use_only(app, limiter)
    app.register_error_handler(RateLimitExceeded, _rate_limited)


def limit(value: str | Callable[[], str], **options: Any
          ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view to be limited by ``limiter.limit(value, **options)`` of each app that
    registers it (``init_app``)."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        setattr(view, MARK, (value, options))
        return view

    return decorate


def _limit_marked_views(app: Flask, limiter: Limiter) -> None:
    """Wrap each view of ``app`` that ``limit`` marked in ``limiter``'s check, noted in ``g``
    so that flask-limiter's after-request and teardown hooks run in its requests
    (``_after_use_only``)."""
    for endpoint, view in list(app.view_functions.items()):
        marked = getattr(view, MARK, None)
        if marked is not None:
            value, options = marked
            app.view_functions[endpoint] = _noted(view, limiter.limit(value, **options)(view))


def _noted(view: Callable[..., Any], limited: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def noted(*args: Any, **kwargs: Any) -> Any:
        g.rate_limit_used = True
        return limited(*args, **kwargs)

    return noted


def _of_limiter(hook: Callable[..., Any], limiter: Limiter) -> bool:
    """Whether a Flask hook is flask-limiter's: a method of ``limiter``, or a ``partial``
    bound to it. One not recognised stays and runs as flask-limiter means it to: only the
    saving is lost, never a limit."""
    if isinstance(hook, partial):
        return bool(hook.args) and hook.args[0] is limiter
    return getattr(hook, "__self__", None) is limiter


def _after_use_only(app: Flask, limiter: Limiter) -> None:
    """Run flask-limiter's after-request and teardown hooks only in a request of a view
    decorated with ``limit`` (the sign-in page): they act on what its check did (deductions,
    headers, the request's limiter context) and find nothing in any other request, every
    ingestion one included, which counts its own limits (``ingest.limits``)."""
    def only_when_used(hook: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(hook)
        def wrapped(arg: Any = None) -> Any:
            if g.get("rate_limit_used"):
                return hook(arg)
            return arg

        return wrapped

    for hooks in (app.after_request_funcs.get(None, []), app.teardown_request_funcs.get(None, [])):
        hooks[:] = [only_when_used(hook) if _of_limiter(hook, limiter) else hook
                    for hook in hooks]
