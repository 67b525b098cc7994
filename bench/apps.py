"""Bare WSGI callables the service is measured against (``gunicorn bench.apps:<name>``).

``gif``: the physical limit, a plain WSGI callable answering the 43-byte GIF.
``raw``: the same answer to a POST whose body it reads; ``signed_raw``: ``raw`` behind
``HmacMiddleware`` on a raw-body route, so the pair measures the middleware's own cost.
``flask_gif``: a Flask route answering the GIF, the framework's floor.
"""
from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from wsgi_hmac import HeaderHmacScheme, HmacMiddleware, Key, Keyring, Route

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = [("Content-Type", "image/gif"), ("Content-Length", str(len(GIF))),
           ("Cache-Control", "no-store")]
RAW_PATH = "/raw"
RAW_HEADER = "X-Signature"
# The raw-body route's key: the bench signs with the same bytes (bench/run.py).
RAW_SECRET = os.environ.get("BENCH_RAW_SECRET", "bench-secret").encode()


def gif(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [GIF]


def raw(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", HEADERS)
    return [GIF]


_KEYRING = Keyring("bench", [Key("k1", RAW_SECRET)])


def _lookup(environ: WSGIEnvironment, fresh: bool) -> Keyring:
    return _KEYRING


signed_raw = HmacMiddleware(raw, [Route(RAW_PATH, HeaderHmacScheme(RAW_HEADER), _lookup)])


def _flask_gif() -> WSGIApplication:
    """A Flask app whose one route answers the GIF: the framework's cost, nothing else."""
    from flask import Flask, Response

    app = Flask(__name__)
    app.add_url_rule("/", "gif", lambda: Response(GIF, mimetype="image/gif",
                                                  headers={"Cache-Control": "no-store"}))
    return app


flask_gif = _flask_gif()
