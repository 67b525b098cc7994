"""Access to read and admin endpoints: a bearer token, or loopback when none is configured."""
from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, request

from conversions.web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def token_matches(presented: str) -> bool:
    """Whether ``presented`` is the configured admin token (constant-time)."""
    token = current_app.config.get("ADMIN_TOKEN") or ""
    return bool(token) and hmac.compare_digest(presented.encode(), token.encode())


def bearer_matches() -> bool:
    """Whether the request carries the admin token as ``Authorization: Bearer``."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(presented.strip())


def is_cross_site() -> bool:
    """Whether a browser sent this request on behalf of another site (reads included).

    Fetch metadata decides when the browser sends it: a page with ``Referrer-Policy:
    no-referrer`` makes Chromium post its own forms with ``Origin: null``.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.lower() == "cross-site"
    return _from_other_origin()


def _from_other_origin() -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc.lower() != request.host.lower()


def is_local_client() -> bool:
    """A client on this machine, not relayed by a proxy, naming this machine as the host."""
    return is_loopback(request.remote_addr) and not proxied() and local_host()


def check_admin() -> None:
    """Refuse the request unless it may read or administer the service."""
    if is_cross_site():
        raise ApiError(403, "forbidden", "Cross-site requests are not accepted here.")
    if current_app.config.get("ADMIN_TOKEN"):
        if not bearer_matches():
            raise ApiError(401, "unauthorized",
                           "A valid 'Authorization: Bearer' token is required.")
    elif not is_local_client():
        raise ApiError(403, "forbidden",
                       "No admin token is configured: only loopback clients are answered.")


# Headers proxies, load balancers and CDNs add to say whom they relay: by name, and by the
# patterns their many spellings share. A loopback peer sending one is a proxy on this host
# relaying someone else, not a local client: behind a proxy an admin token is required.
FORWARDING_HEADERS = frozenset({
    "forwarded", "via", "client-ip", "x-client-ip", "x-cluster-client-ip", "x-originating-ip",
    "x-remote-ip", "x-remote-addr", "x-envoy-external-address", "x-proxyuser-ip",
})
FORWARDING_PREFIXES = ("x-forwarded", "x-original-forwarded")
FORWARDING_SUFFIXES = ("-client-ip", "-real-ip", "-connecting-ip", "-user-ip")


def is_forwarding_header(name: str) -> bool:
    name = name.lower()
    return (name in FORWARDING_HEADERS or name.startswith(FORWARDING_PREFIXES)
            or name.endswith(FORWARDING_SUFFIXES))


def local_host() -> bool:
    """Whether the request names this machine: a page whose own domain was rebound to
    127.0.0.1 (DNS rebinding) is same-origin to itself and must not pass for a local tool."""
    host = urlsplit("//" + request.host).hostname or ""
    return host == "localhost" or is_loopback(host)


def proxied() -> bool:
    """Whether a proxy relayed the request (ProxyFix's resolution included: loopback-only
    mode is for tools on this machine, never for clients behind a proxy)."""
    return any(is_forwarding_header(name) for name, _ in request.headers)


def check_same_site() -> None:
    """Refuse a state-changing request a browser says came from another site."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    site = request.headers.get("Sec-Fetch-Site")
    if (site and site not in ("same-origin", "none")) or (not site and _from_other_origin()):
        raise ApiError(403, "forbidden", "Cross-site requests may not change anything.")


# The mark of an ``admin_required`` view, which its OpenAPI description reads.
ADMIN_ONLY = "admin_only"


def admin_required(view: F) -> F:
    """Decorate a view that needs admin access."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        check_same_site()
        return view(*args, **kwargs)

    setattr(wrapper, ADMIN_ONLY, True)
    return wrapper  # type: ignore[return-value]


def is_admin_only(view: Callable[..., Any]) -> bool:
    """Whether ``view`` (or a view it wraps) is ``admin_required``."""
    return bool(getattr(view, ADMIN_ONLY, False))
