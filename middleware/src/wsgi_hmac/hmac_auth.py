"""The WSGI middleware that verifies signed requests before the wrapped app sees them."""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wsgi_hmac.paths import may_differ, normal_path
from wsgi_hmac.refusals import refuse
from wsgi_hmac.schemes import Failure, Keyring, Scheme, Verified

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

KeyLookup = Callable[["WSGIEnvironment", bool], Keyring | Failure]
Guard = Callable[["WSGIEnvironment", Keyring], Failure | None]
RejectHook = Callable[["WSGIEnvironment", Failure, Keyring | None], None]

LENGTH_REQUIRED = Failure(411, "length_required", "A Content-Length header is required.")
INCOMPLETE_BODY = Failure(400, "incomplete_body", "The body is shorter than Content-Length.")


@dataclass(frozen=True)
class Route:
    """A path whose requests must be signed with ``scheme`` by one of ``key_lookup``'s keys.

    ``key_lookup(environ, fresh)`` names the tenant and its live keys from what the request
    says before its body is trusted (a query parameter, a header), or returns a ``Failure``.
    ``fresh=True`` asks it to bypass any cache: the middleware retries once that way when a
    cached keyring fails, so a key rotated in another process verifies at once.
    ``guard`` may refuse before the MAC is computed (throttling failed signatures).
    """

    path: str
    scheme: Scheme
    key_lookup: KeyLookup
    max_body: int = 64 * 1024
    methods: tuple[str, ...] = ("POST",)
    guard: Guard | None = None


class HmacMiddleware:
    """Verify HMAC signatures on configured paths; pass everything else through untouched.

    For a configured path and method it reads the body (up to the route's ``max_body``:
    413 beyond it, 411 without a length), finds the tenant's keys, and checks the signature
    with ``hmac.compare_digest``. A failure is answered here as JSON and never reaches the
    wrapped app. On success the wrapped app gets an intact, re-readable body and, in the
    environ, ``hmac.verified`` (True), ``hmac.tenant_id``, ``hmac.key_id``, ``hmac.scheme``,
    ``hmac.body`` (the raw bytes) and whatever the scheme adds (``hmac.message_id``, ...).
    Requests that claim ``hmac.*`` keys themselves cannot: those keys are reset first.

    A route guards every spelling of its path that a router may send to the same view:
    the path (``PATH_INFO``, and ``SCRIPT_NAME`` + ``PATH_INFO`` under a mount) is compared
    in its normal form (``paths.normal_path``: percent-decoded, slashes merged, no trailing
    slash), and the method in capitals. A view behind a route must still check
    ``hmac.verified``: that is the only proof that the middleware ran for its request.

    It imports no framework, so it wraps any WSGI callable::

        from wsgi_hmac import HmacMiddleware, HeaderHmacScheme, Keyring, Key, Route

        def lookup(environ, fresh):
            return Keyring("tenant-1", [Key("k1", b"secret")])

        app = HmacMiddleware(app, [Route("/hook", HeaderHmacScheme("X-Signature"), lookup)])
    """

    def __init__(
        self,
        app: WSGIApplication,
        routes: Iterable[Route],
        *,
        clock: Callable[[], float] = time.time,
        on_reject: RejectHook | None = None,
    ) -> None:
        self.app = app
        self.routes: dict[str, Route] = {}
        for route in routes:
            path = normal_path(route.path.encode().decode("latin-1"))  # as WSGI text
            if path in self.routes:
                raise ValueError(f"two routes for the path {path}")
            self.routes[path] = route
        self.clock = clock
        self.on_reject = on_reject

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Every key starting "hmac." ("/" follows "."): comparisons, not a call a key.
        for key in [k for k in environ if "hmac." <= k < "hmac/"]:
            del environ[key]
        route = self._route(environ)
        if route is None or environ.get("REQUEST_METHOD", "").upper() not in route.methods:
            return self.app(environ, start_response)
        outcome, keyring, body = self._check(route, environ)
        if isinstance(outcome, Failure):
            if self.on_reject is not None:
                self.on_reject(environ, outcome, keyring)
            return refuse(start_response, outcome)
        assert keyring is not None
        environ.update(outcome.extra)
        environ.update(
            {
                "hmac.verified": True,
                "hmac.tenant_id": keyring.tenant_id,
                "hmac.key_id": outcome.key_id,
                "hmac.scheme": route.scheme.name,
                "hmac.body": body,
                "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)),
            }
        )
        return self.app(environ, start_response)

    def _route(self, environ: WSGIEnvironment) -> Route | None:
        """The route of the path the app routes by, or of the full path under a mount."""
        path = environ.get("PATH_INFO", "")
        mount = environ.get("SCRIPT_NAME", "")
        for candidate in (path, mount + path) if mount else (path,):
            route = self.routes.get(candidate)
            if route is None and may_differ(candidate):
                route = self.routes.get(normal_path(candidate))
            if route is not None:
                return route
        return None

    def _check(
        self, route: Route, environ: WSGIEnvironment
    ) -> tuple[Verified | Failure, Keyring | None, bytes]:
        """Read the body, find the keys, verify; the keyring is None if none was found."""
        body = _read_body(environ, route.max_body)
        if isinstance(body, Failure):
            return body, None, b""
        keyring = route.key_lookup(environ, False)
        if isinstance(keyring, Failure):
            return keyring, None, body
        return self._verify(route, environ, body, keyring), keyring, body

    def _verify(
        self, route: Route, environ: WSGIEnvironment, body: bytes, keyring: Keyring
    ) -> Verified | Failure:
        if route.guard is not None:
            refused = route.guard(environ, keyring)
            if refused is not None:
                return refused
        now = self.clock()
        outcome = route.scheme.verify(environ, body, keyring, now)
        if isinstance(outcome, Failure) and outcome.status == 401 and keyring.cached:
            fresh = route.key_lookup(environ, True)
            if isinstance(fresh, Keyring):
                outcome = route.scheme.verify(environ, body, fresh, now)
        return outcome


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes | Failure:
    """Read the whole body, refusing one over ``limit`` before reading it."""
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH", "")
    if not length_text:
        if not environ.get("wsgi.input_terminated"):
            return LENGTH_REQUIRED
        body = stream.read(limit + 1)  # chunked: the server marks the end of the stream
        return _too_large(limit) if len(body) > limit else body
    if not length_text.isdigit():
        return Failure(400, "invalid_content_length", "Content-Length must be a number.")
    length = int(length_text)
    if length > limit:
        return _too_large(limit)
    body = stream.read(length) if length else b""
    return INCOMPLETE_BODY if len(body) < length else body


def _too_large(limit: int) -> Failure:
    return Failure(413, "payload_too_large", f"The body is larger than {limit} bytes.")
