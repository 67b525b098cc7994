"""What a refused ingestion request leaves behind: a count, a dead letter or a test verdict.

Registered with the error handlers (``web.errors.on_refusal``) for the ingestion blueprints.
Only a known tenant's request leaves more than a count: a test its verdict (tallied as
``test``), a verified event (a signature, or a postback's live token) a dead letter for the
codes the taxonomy marks. docs/operations.md ("Dead letters", "Test events") has the rules.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask, g, request

from conversions.core import sources, taxonomy
from conversions.ingest import flagged_tests, pixel
from conversions.ingest.signing import GOAL_BODY
from conversions.rollups import tally
from conversions.store import dead_letters
from conversions.web import errors


def request_payload() -> Any:
    """The refused event as the view read it (never parsed again here): a postback's provider
    and parameters, a signed body, the pixel's parameters; else the query, or a signed body
    that is no JSON as text."""
    if "ingest_payload" in g:  # a postback or a webhook, as read
        return g.ingest_payload
    parsed = request.environ.get(GOAL_BODY)
    if parsed is not None:
        return parsed
    body = request.environ.get("hmac.body")
    if body is None:  # the pixel's parameters, or its query when they were refused
        found = g.get(pixel.PARAMS)
        return found if isinstance(found, dict) else request.args.to_dict()
    return {"body": body.decode("utf-8", "replace")}


def handle(source: str, error: str, status: int, detail: Any = None) -> None:
    """Count, keep or record the refusal of the current request with ``error``."""
    # A signature verified by the middleware, or a postback's live token.
    signed = request.environ.get("hmac.verified") is True
    verified = signed or g.get("token_verified") is True
    tenant_id = request.environ.get("hmac.tenant_id") if signed else g.get("tenant_id")
    payload = request_payload() if tenant_id else None
    goal = source == sources.GOAL.name  # a goal's body carries no test flag
    test_code = flagged_tests.code(None if goal else payload) if tenant_id else None
    if tenant_id and flagged_tests.well_formed(test_code):
        # A refusal for load says nothing of the event, and storing it would let a flood of
        # throttled tests write to the store: the sender's 429 is all there is.
        if error != "rate_limited":
            flagged_tests.keep_rejection(tenant_id, source, test_code or "", payload, error,
                                        detail)
        return
    tally.rejected(tenant_id, source, error)
    if verified and tenant_id and taxonomy.dead_lettered(error):
        dead_letters.keep(tenant_id, source, error, status, payload, detail,
                      request.environ.get("hmac.message_id"))


# The ingestion blueprints, by the source type their refusals are counted under.
BLUEPRINTS = {"goals": sources.GOAL, "pixel": sources.PIXEL, "webhooks": sources.WEBHOOK,
              "postbacks": sources.POSTBACK}


def init_app(app: Flask) -> None:
    for blueprint, source in BLUEPRINTS.items():
        errors.on_refusal(app, blueprint, partial(handle, source.name))
