"""Access to read and admin endpoints: a bearer token, or loopback when none is configured."""
from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, request

from conversions.errors import ApiError

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


def check_admin() -> None:
    """Refuse the request unless it may read or administer the service."""
    if current_app.config.get("ADMIN_TOKEN"):
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(presented.strip()):
            raise ApiError(401, "unauthorized",
                           "A valid 'Authorization: Bearer' token is required.")
    elif not is_loopback(request.remote_addr):
        raise ApiError(403, "forbidden",
                       "No admin token is configured: only loopback clients are answered.")


def admin_required(view: F) -> F:
    """Decorate a view that needs admin access."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
