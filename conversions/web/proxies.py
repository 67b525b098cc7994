"""Trusted reverse proxies: ``PROXY_FIX_HOPS`` of them may set the client address and scheme
(Werkzeug's ``ProxyFix``); with none trusted, a forwarding header is never believed."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    """Wrap the WSGI callable (after the HMAC middleware, so the address is resolved first)."""
    hops = int(app.config["PROXY_FIX_HOPS"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
