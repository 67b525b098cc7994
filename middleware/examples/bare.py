"""A bare WSGI app behind the middleware: ``gunicorn bare:application``, or ``python bare.py``."""
from __future__ import annotations

import base64
import json
import os

from hook_keys import ROUTES

from wsgi_hmac import BodyDeadline, HmacMiddleware


def respond(start_response, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    length = environ.get("CONTENT_LENGTH", "")
    body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
    path = environ.get("PATH_INFO", "")
    if path in ("/hooks/in", "/hooks/webhook"):
        if not environ.get("hmac.verified"):  # served without the middleware: refuse
            return respond(start_response, "403 Forbidden", {"error": "not_verified"})
        return respond(start_response, "200 OK", {
            "client": environ["hmac.tenant_id"], "key_id": environ["hmac.key_id"],
            "body": base64.b64encode(body).decode()})
    if path == "/open":  # not signed: the middleware passes it through untouched
        return respond(start_response, "200 OK", {"body": base64.b64encode(body).decode()})
    return respond(start_response, "404 Not Found", {"error": "not_found"})


# BodyDeadline outermost: a body that has not arrived within the deadline is answered 408.
application = BodyDeadline(HmacMiddleware(app, ROUTES),
                           seconds=float(os.environ.get("HOOK_BODY_SECONDS", "10")))

if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    make_server("127.0.0.1", 8000, application).serve_forever()
