"""Test events: flagged requests, verified and validated like real ones, kept apart.

A request is a test when it carries ``?test_event_code=`` or an ``X-Conversions-Test`` header
(a webhook or a pixel may put it in its body, a goal may not: its canonical form does not sign
it). Its verdict goes to its own table (``store.kept_test_events``), never to ``Event``, and it
is tallied only as outcome ``test``; docs/operations.md ("Test events") has the rules.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields
from peewee import PeeweeException

from conversions.rollups import tally
from conversions.store import kept_test_events
from conversions.web.errors import ApiError

log = logging.getLogger(__name__)

PARAM = "test_event_code"
HEADER = "X-Conversions-Test"
HEADER_KEY = "HTTP_" + HEADER.upper().replace("-", "_")  # where the WSGI environ holds it
_CODE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MALFORMED = {PARAM: ["must be 1 to 64 letters, digits or _ . : -"]}
# The flags in the OpenAPI description of every ingestion endpoint.
PARAMETERS = [
    {"in": "query", "name": PARAM, "schema": {"type": "string"},
     "description": "Flags a test event: 1 to 64 letters, digits or _ . : -"},
    {"in": "header", "name": HEADER, "schema": {"type": "string"},
     "description": f"Flags a test event, as {PARAM} does."},
]


class TestAccepted(Schema):
    """A valid request flagged as a test: kept apart, never counted."""

    test_event_id = fields.String(required=True)
    test_event_code = fields.String(required=True)
    verdict = fields.String(required=True)


def accepted_or_test(schema: Any) -> dict[str, Any]:
    """An answer's schema: ``schema``'s, or a test event's."""
    return {"oneOf": [schema, TestAccepted]}


def code(body: Any = None) -> str | None:
    """The request's test code as sent (query, header, then ``body``'s field), or None."""
    in_body = body.get(PARAM) if isinstance(body, dict) else None
    # The query is parsed only when it may name the code, as is or percent-encoded (a goal's
    # holds only its domain).
    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    in_query = request.args.get(PARAM) if PARAM in query or "%" in query else None
    text = in_query or environ.get(HEADER_KEY) or in_body or ""
    return str(text).strip() or None


def well_formed(text: str | None) -> bool:
    return text is not None and _CODE.fullmatch(text) is not None


def valid_code(body: Any = None) -> str | None:
    """The request's test code, refusing a malformed one."""
    text = code(body)
    if text is not None and not well_formed(text):
        raise ApiError(400, "invalid_parameter", "test_event_code is malformed.",
                       fields=MALFORMED)
    return text


def keep(tenant_id: str, source: str, test_code: str, payload: Any) -> int:
    """Keep an accepted test event; its id."""
    test_id = kept_test_events.keep(tenant_id, source, test_code, payload)
    tally.flagged(tenant_id, source)
    return test_id


def accepted(tenant_id: str, source: str, test_code: str, payload: Any) -> ResponseReturnValue:
    """Keep an accepted test event and answer the sender."""
    return jsonify(accepted_body(keep(tenant_id, source, test_code, payload), test_code)), 202


def accepted_body(test_id: int, test_code: str) -> dict[str, Any]:
    return {"test_event_id": str(test_id), "test_event_code": test_code, "verdict": "accepted"}


def keep_rejection(tenant_id: str, source: str, test_code: str, payload: Any, error: str,
                   detail: Any = None) -> None:
    """Keep a rejected test's verdict; never raises (the sender's answer stands)."""
    tally.flagged(tenant_id, source)
    try:
        kept_test_events.keep(tenant_id, source, test_code, payload, error, detail)
    except (PeeweeException, ValueError) as err:
        log.warning("test event not stored", extra={"error_type": type(err).__name__})
