"""Rate limits on ingestion: per tenant and per client address, and on failed signatures.

Limits are read per request from configuration and per-tenant settings, and counted in
``RATELIMIT_STORAGE_URI`` (``memory://`` per process, ``redis://`` shared). The client address
is ``REMOTE_ADDR`` as Werkzeug's ``ProxyFix`` leaves it after ``PROXY_FIX_HOPS`` trusted
proxies; with no trusted proxy a raw ``X-Forwarded-For`` is never believed.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.middleware.proxy_fix import ProxyFix

from conversions import errors, limit_sweeper, settings
from middleware import Failure, Keyring

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

limiter = Limiter(get_remote_address)
log = logging.getLogger(__name__)

# An unreachable limit store must neither refuse nor lose events: limits fail open, and say
# so in the log (at most once a minute a process).
STORE_ERRORS = (OSError, RedisError)
_warned_at = 0.0


def _store_unavailable(err: Exception) -> None:
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        log.warning("rate-limit store unavailable: requests are not limited",
                    extra={"error_type": type(err).__name__})


def signed_tenant() -> str | None:
    """The tenant the middleware verified this request for."""
    return request.environ.get("hmac.tenant_id")


Breach = Callable[[RequestLimit], Response | None]


def ingest(source: str, tenant: Callable[[], str | None] = signed_tenant,
           on_breach: Breach | None = None) -> Callable[[Any], Any]:
    """Limit a view per tenant (setting ``rate_limit.<source>``) and per client address.

    ``on_breach`` may answer a 429 its own way (the pixel's image); None: the JSON error.
    Both limits are counted with the flask-limiter's own strategy and storage, directly: its
    per-request limit resolution cost more than the rest of a pixel.
    """

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if limiter.enabled:
                try:
                    refused = _over_limit(source, tenant(), on_breach)
                except STORE_ERRORS as err:
                    _store_unavailable(err)
                    refused = None
                if refused is not None:
                    return refused
            return view(*args, **kwargs)

        return limited

    return decorate


def _over_limit(source: str, tenant_id: str | None,
                on_breach: Breach | None) -> ResponseReturnValue | None:
    """Count this request against its limits; the 429 answer if one is exceeded.

    The address is counted first: a request its address limit refuses never spends the
    tenant's budget, so one flooding address cannot starve the tenant's other visitors.
    """
    checks = [(_item(str(current_app.config["RATELIMIT_PER_ADDRESS"])),
               (source, "address", get_remote_address()))]
    if tenant_id is not None:
        checks.append((_item(str(settings.get(tenant_id, "rate_limit", source))),
                       (source, "tenant", tenant_id)))
    strategy = limiter.limiter
    for item, ids in checks:
        if not strategy.hit(item, *ids):
            wait = retry_after(strategy.get_window_stats(item, *ids).reset_time)
            errors.count_rejection("rate_limited")
            response = on_breach(RequestLimit(limiter, item, list(ids), True, False)) \
                if on_breach else None
            if response is None:
                body = {"error": "rate_limited", "retry_after": wait,
                        "message": f"Too many requests (at most {item}); retry in {wait} s."}
                return jsonify(body), 429, {"Retry-After": str(wait)}
            response.headers["Retry-After"] = str(wait)
            return response
    return None


def retry_after(reset_at: float) -> int:
    """Whole seconds until ``reset_at`` (Unix seconds), at least 1."""
    return max(1, int(reset_at - time.time()) + 1)


def _rate_limited(err: RateLimitExceeded) -> ResponseReturnValue:
    current = limiter.current_limit
    wait = retry_after(current.reset_at) if current else 60
    errors.count_rejection("rate_limited")
    if err.response is not None:
        err.response.headers["Retry-After"] = str(wait)
        return err.response
    body = {"error": "rate_limited", "retry_after": wait,
            "message": f"Too many requests (at most {err.description}); retry in {wait} s."}
    return jsonify(body), 429, {"Retry-After": str(wait)}


@lru_cache(maxsize=64)
def _item(text: str) -> RateLimitItem:
    return parse(text)


class SignatureFailures:
    """Failed signatures per tenant and client address, refused before any MAC is computed.

    ``check`` is the middleware's route guard (it never counts); ``record`` counts one
    ``invalid_signature``. So guessing a secret costs a 429 once the limit is reached.
    """

    def __init__(self) -> None:
        self.limiter: FixedWindowRateLimiter | None = None
        self.config: dict[str, Any] = {}

    def init_app(self, app: Flask) -> None:
        self.config = app.config
        storage = storage_from_string(str(app.config["RATELIMIT_STORAGE_URI"]),
                                      **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}))
        limit_sweeper.adopt(storage)
        self.limiter = FixedWindowRateLimiter(storage)

    def _args(self, environ: WSGIEnvironment, tenant_id: str) -> tuple[RateLimitItem, str, str]:
        item = _item(str(self.config["SIGNATURE_FAILURE_LIMIT"]))
        return item, "signature-failures", f"{tenant_id}@{environ.get('REMOTE_ADDR', '')}"

    def check(self, environ: WSGIEnvironment, keyring: Keyring) -> Failure | None:
        if self.limiter is None:
            return None
        item, *ids = self._args(environ, keyring.tenant_id)
        try:
            if self.limiter.test(item, *ids):
                return None
            wait = retry_after(self.limiter.get_window_stats(item, *ids).reset_time)
        except STORE_ERRORS as err:
            _store_unavailable(err)
            return None
        return Failure(429, "rate_limited", f"Too many failed signatures; retry in {wait} s.",
                       (("Retry-After", str(wait)),))

    def record(self, environ: WSGIEnvironment, keyring: Keyring) -> None:
        if self.limiter is not None:
            try:
                self.limiter.hit(*self._args(environ, keyring.tenant_id))
            except STORE_ERRORS as err:
                _store_unavailable(err)


signature_failures = SignatureFailures()


def init_app(app: Flask) -> None:
    """Bind the limiters to ``app`` and trust ``PROXY_FIX_HOPS`` proxies for the address."""
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        # A Redis that hangs must not hang ingestion: give up quickly and fail open.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {
            "socket_timeout": float(app.config["RATELIMIT_REDIS_TIMEOUT_SECONDS"]),
            "socket_connect_timeout": float(app.config["RATELIMIT_REDIS_TIMEOUT_SECONDS"]),
        })
    limiter.init_app(app)
    if limiter.enabled:
        limit_sweeper.adopt(limiter.storage)
    if not (app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")):
        # No limit on every route: ``ingest`` counts the ingestion endpoints, so spare each
        # request flask-limiter's own (empty) resolution before it.
        hooks = app.before_request_funcs.get(None, [])
        if limiter._check_request_limit in hooks:
            hooks.remove(limiter._check_request_limit)
    signature_failures.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    hops = int(app.config["PROXY_FIX_HOPS"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
