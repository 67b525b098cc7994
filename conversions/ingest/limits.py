"""Rate limits on ingestion: per tenant (the ``rate_limit`` setting), per client address, and
on failures (signatures, the middleware's guard; postback tokens), counted in the limiter's
store."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from conversions.core.sources import RATE_LIMITED
from conversions.observability import instruments
from conversions.tenants import settings
from conversions.web import errors, limit_sweeper
from conversions.web.rate_limits import (
    STORE_ERRORS,
    limiter_of,
    parsed,
    retry_after,
    store_unavailable,
    too_many,
)
from wsgi_hmac import Failure, Keyring

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


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
    if source not in RATE_LIMITED:
        raise ValueError(f"{source!r} is not a rate-limited source (core/sources.py)")

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            limiter = limiter_of(current_app)
            if limiter.enabled:
                try:
                    refused = _over_limit(limiter, source, tenant(), on_breach)
                except STORE_ERRORS as err:
                    store_unavailable(err)
                    refused = None
                if refused is not None:
                    return refused
            return view(*args, **kwargs)

        return limited

    return decorate


def _over_limit(limiter: Limiter, source: str, tenant_id: str | None,
                on_breach: Breach | None) -> ResponseReturnValue | None:
    """Count this request against its limits in ``limiter``'s store; the 429 answer if one is
    exceeded.

    The address is counted first: a request its address limit refuses never spends the
    tenant's budget, so one flooding address cannot starve the tenant's other visitors.
    """
    checks = [(parsed(str(current_app.config["RATELIMIT_PER_ADDRESS"])),
               (source, "address", get_remote_address()))]
    if tenant_id is not None:
        checks.append((parsed(str(settings.get(tenant_id, "rate_limit", source))),
                       (source, "tenant", tenant_id)))
    strategy = limiter.limiter
    for item, ids in checks:
        if not strategy.hit(item, *ids):
            wait = retry_after(strategy.get_window_stats(item, *ids).reset_time)
            errors.count_rejection("rate_limited")
            instruments.rate_limited(ids[1])
            response = on_breach(RequestLimit(limiter, item, list(ids), True, False)) \
                if on_breach else None
            if response is None:
                return too_many(item, wait)
            response.headers["Retry-After"] = str(wait)
            return response
    return None


class FailureThrottle:
    """Failures counted per key in the limiter's store (limit: the config key ``setting``),
    refused before the costly step they guard runs again.

    ``wait`` never counts; ``record`` counts one failure. So guessing a secret costs a 429
    once the limit is reached. An unreachable store fails open, as every limit does.
    """

    def __init__(self, setting: str, scope: str) -> None:
        self.setting = setting
        self.scope = scope
        self.limiter: FixedWindowRateLimiter | None = None
        self.config: dict[str, Any] = {}

    def bind(self, limiter: FixedWindowRateLimiter, config: dict[str, Any]) -> None:
        self.limiter = limiter
        self.config = config

    def wait(self, key: str) -> int | None:
        """Seconds until ``key`` may try again; None while it is under the limit."""
        if self.limiter is None:
            return None
        item = parsed(str(self.config[self.setting]))
        try:
            if self.limiter.test(item, self.scope, key):
                return None
            instruments.rate_limited(self.scope)
            return retry_after(self.limiter.get_window_stats(item, self.scope, key).reset_time)
        except STORE_ERRORS as err:
            store_unavailable(err)
            return None

    def record(self, key: str) -> None:
        if self.limiter is not None:
            try:
                self.limiter.hit(parsed(str(self.config[self.setting])), self.scope, key)
            except STORE_ERRORS as err:
                store_unavailable(err)


# Failed signatures per tenant and client address, refused before any MAC is computed.
signature_failures = FailureThrottle("SIGNATURE_FAILURE_LIMIT", "signature-failures")
# Unknown postback tokens per client address, refused before any look-up in the store.
token_failures = FailureThrottle("POSTBACK_GUESS_LIMIT", "token-failures")


def init_app(app: Flask) -> None:
    """Count the failure throttles in the limit store of ``app``."""
    storage = storage_from_string(str(app.config["RATELIMIT_STORAGE_URI"]),
                                  **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}))
    limit_sweeper.adopt(storage)
    limiter = FixedWindowRateLimiter(storage)
    for throttle in (signature_failures, token_failures):
        throttle.bind(limiter, app.config)


def _signer(environ: WSGIEnvironment, keyring: Keyring) -> str:
    return f"{keyring.tenant_id}@{environ.get('REMOTE_ADDR', '')}"


def signature_guard(environ: WSGIEnvironment, keyring: Keyring) -> Failure | None:
    """The middleware's route guard: 429 for a tenant and address over their failed
    signatures (it never counts)."""
    wait = signature_failures.wait(_signer(environ, keyring))
    if wait is None:
        return None
    return Failure(429, "rate_limited", f"Too many failed signatures; retry in {wait} s.",
                   (("Retry-After", str(wait)),))


def record_signature_failure(environ: WSGIEnvironment, keyring: Keyring) -> None:
    """Count one ``invalid_signature`` of the tenant from the client address."""
    signature_failures.record(_signer(environ, keyring))
