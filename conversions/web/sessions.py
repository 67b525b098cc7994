"""Flask's signed-cookie sessions, without their cost on requests that carry no session.

Only the settings page uses a session: this interface looks for the cookie before it builds a
signer, and saves only a session that was used; a request with the cookie is handled as by
Flask's own (docs/performance.md says what it saves).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin

if TYPE_CHECKING:
    from flask import Flask, Request, Response


class LeanCookieSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # No Cookie header at all (every ingestion request): no need to parse one.
        if "HTTP_COOKIE" in request.environ and request.cookies.get(self.get_cookie_name(app)):
            return super().open_session(app, request)
        # What the stock interface answers without a cookie: empty, or null with no key.
        return self.session_class() if app.secret_key else None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # An empty session nothing read or changed (every ingestion request): the stock
        # interface reads seven cookie settings, then leaves the answer as it is.
        if session or session.accessed or session.modified:
            super().save_session(app, session, response)
