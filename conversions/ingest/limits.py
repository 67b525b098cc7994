"""Rate limits on ingestion: per tenant (the ``rate_limit`` setting), per client address, and
on failed signatures (the middleware's guard), counted in the limiter's store."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from conversions.observability import instruments
from conversions.tenants import settings
from conversions.web import errors, limit_sweeper
from conversions.web.rate_limits import (
    STORE_ERRORS,
    limiter,
    parsed,
    retry_after,
    store_unavailable,
    too_many,
)
from middleware import Failure, Keyring

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

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if limiter.enabled:
                try:
                    refused = _over_limit(source, tenant(), on_breach)
                except STORE_ERRORS as err:
                    store_unavailable(err)
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

    def _args(self, environ: WSGIEnvironment, tenant_id: str) -> tuple[Any, str, str]:
        item = parsed(str(self.config["SIGNATURE_FAILURE_LIMIT"]))
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
            store_unavailable(err)
            return None
        return Failure(429, "rate_limited", f"Too many failed signatures; retry in {wait} s.",
                       (("Retry-After", str(wait)),))

    def record(self, environ: WSGIEnvironment, keyring: Keyring) -> None:
        if self.limiter is not None:
            try:
                self.limiter.hit(*self._args(environ, keyring.tenant_id))
            except STORE_ERRORS as err:
                store_unavailable(err)


signature_failures = SignatureFailures()
