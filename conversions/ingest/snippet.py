"""``GET /lp.js``: the browser snippet, with the first-touch sources injected once."""
from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, current_app, request

from conversions.web import openapi

bp = Blueprint("snippet", __name__)

ASSETS = resources.files("conversions.ingest") / "assets"
BUCKETS = ("ai_search", "search", "social")
PLACEHOLDER = "/*SOURCES*/{}"


def first_touch_sources() -> dict[str, list[dict[str, Any]]]:
    """The engine and site host lists, by bucket: the one place they are kept."""
    data = json.loads((ASSETS / "first_touch_sources.json").read_text("utf-8"))
    return {bucket: data[bucket] for bucket in BUCKETS}


@cache
def script() -> tuple[bytes, str]:
    """The served script and its strong ETag, built once per process."""
    template = (ASSETS / "lp.js").read_text("utf-8")
    sources = json.dumps(first_touch_sources(), separators=(",", ":"), sort_keys=True)
    body = template.replace(PLACEHOLDER, sources, 1).encode("utf-8")
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get("/lp.js")
@openapi.operation("get", summary="The browser snippet: lp.firstTouch() and lp.track().",
                   tags=["browser"], responses={
                       "200": {"description": "The script (cacheable, with a strong ETag).",
                               "content": {"text/javascript": {"schema": {"type": "string"}}}},
                       "304": {"description": "Not modified (If-None-Match matched the ETag)."}})
def lp_js() -> Response:
    body, etag = script()
    response = Response(body, mimetype="text/javascript")
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = int(current_app.config["LP_JS_MAX_AGE_SECONDS"])
    # Any page may load the script; it carries no credentials and reads none.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)
