"""Flask's signed-cookie sessions, without their cost on requests that carry no session.

Only the settings page uses a session; every ingestion request comes without the cookie,
yet Flask's stock interface builds a signer (key derivation included) for each request
before it looks for one, and reads every cookie setting after it to save nothing. This one
looks first and saves only a session that was used; a request with the cookie is handled
exactly as before.
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
