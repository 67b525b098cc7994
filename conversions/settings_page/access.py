"""Who may see ``/settings/system``: a session opened with the admin token, else loopback."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app, session

from conversions.web.auth import bearer_matches, is_local_client

ALLOWED, LOGIN, FORBIDDEN = "allowed", "login", "forbidden"


def token_required() -> bool:
    return bool(current_app.config.get("ADMIN_TOKEN"))


def _token_fingerprint() -> str:
    """A keyed digest of the admin token: a new token ends every session opened with the old."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    token = str(current_app.config.get("ADMIN_TOKEN") or "").encode()
    return hmac.new(key, b"settings-login:" + token, hashlib.sha256).hexdigest()


def open_session() -> None:
    """Start a fresh signed-in session (nothing from before the login survives)."""
    session.clear()
    session.permanent = True
    session["admin"] = _token_fingerprint()


def access() -> str:
    """ALLOWED, LOGIN (a token is configured but not presented) or FORBIDDEN (not loopback)."""
    if token_required():
        signed_in = hmac.compare_digest(str(session.get("admin", "")), _token_fingerprint())
        return ALLOWED if signed_in or bearer_matches() else LOGIN
    return ALLOWED if is_local_client() else FORBIDDEN
