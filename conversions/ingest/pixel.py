"""``GET|POST /api/conversions/pixel``: unsigned browser events, answered with a 1x1 GIF.

The pixel carries no secret (anything in a page is public), so its events are stored as
unsigned hints (``signed=False``) and never feed revenue attribution.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_accept_header

from conversions.core import clock
from conversions.ingest import flagged_tests, limits, schemas
from conversions.ingest.events import EventAccepted, load_pixel, pixel_row
from conversions.rollups import tally
from conversions.store.events import insert_event
from conversions.tenants.accounts import key_cache
from conversions.web import errors, json_shape, openapi
from conversions.web.openapi import json_answer

bp = Blueprint("pixel", __name__)

PIXEL_PATH = "/api/conversions/pixel"
# The classic 43-byte transparent 1x1 GIF89a.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
            "Pragma": "no-cache", "Expires": "0"}


def wants_json() -> bool:
    """True when the client prefers JSON to an image (``Accept: application/json``)."""
    return _prefers_json(request.headers.get("Accept", ""))


@lru_cache(maxsize=256)
def _prefers_json(accept: str) -> bool:
    """Content negotiation for one ``Accept`` value, decided once: clients send few."""
    return parse_accept_header(accept, MIMEAccept).best_match(
        ["image/gif", "application/json"]) == "application/json"


# The GIF's own headers, built once (a Response copies them; werkzeug adds the length).
_GIF_HEADERS = [("Content-Type", "image/gif"), *NO_CACHE.items()]


def gif(status: int, outcome: str, headers: dict[str, str] | None = None) -> Response:
    """The transparent GIF, never cached, with ``X-Conversions-Status: outcome``."""
    return Response(GIF, status=status, headers=[
        *_GIF_HEADERS, ("X-Conversions-Status", outcome), *(headers or {}).items()])


def answer(status: int, outcome: str, body: dict[str, Any]) -> Response:
    """The JSON answer, for a client that asked for JSON; never cached."""
    response = jsonify(body)
    response.status_code = status
    response.headers.update({**NO_CACHE, "X-Conversions-Status": outcome})
    return response


def refuse(status: int, error: str, message: str, **extra: Any) -> Response:
    """A refusal as the GIF with ``X-Conversions-Error``, or as JSON when JSON was asked."""
    buyer_tenant()  # tallied for the buyer's tenant when there is one
    errors.count_rejection(error, status, extra.get("fields"))
    if wants_json():
        return answer(status, "rejected", {"error": error, "message": message, **extra})
    return gif(status, "rejected", {"X-Conversions-Error": error})


def refuse_with(err: errors.ApiError) -> Response:
    return refuse(err.status, err.error, err.message, **err.extra)


# Where a request's parameters are kept once read (ingest/rejections.py reads them too).
PARAMS = "pixel_params"
NOT_AN_OBJECT = "The body is not a JSON object."


def params() -> dict[str, Any]:
    """The event's parameters, read once a request (the limiter's tenant look-up, the view
    and a refusal's record all need them); raises the ``ApiError`` of a POSTed body that is
    not a JSON object, or of parameters past the JSON shape (``web.json_shape``)."""
    found = g.get(PARAMS)
    if found is None:
        try:
            found = _read_params()
        except errors.ApiError as err:
            found = err
        setattr(g, PARAMS, found)
    if isinstance(found, errors.ApiError):
        raise found
    return found


def _read_params() -> dict[str, Any]:
    """Query parameters, overlaid by a POSTed form or JSON object; blanks count as absent."""
    found: dict[str, Any] = request.args.to_dict()
    if request.method == "POST":
        if request.mimetype in ("application/json", "text/plain"):
            try:
                body = json.loads(request.get_data() or b"{}")
            except (ValueError, RecursionError):
                raise errors.ApiError(400, "invalid_json", NOT_AN_OBJECT) from None
            if not isinstance(body, dict):
                raise errors.ApiError(400, "invalid_json", NOT_AN_OBJECT)
            found.update(body)
        else:
            found.update(request.form.to_dict())
    json_shape.check(found)
    return {name: value for name, value in found.items() if value not in ("", None)}


_UNSET = object()


def buyer_tenant() -> str | None:
    """The tenant of the request's ``buyer_id`` (None if none), looked up once a request."""
    tenant_id = g.get("tenant_id", _UNSET)
    if tenant_id is _UNSET:
        try:
            buyer = params().get("buyer_id")
        except errors.ApiError:
            buyer = None
        except RequestEntityTooLarge:  # the body is refused; the query may still name one
            buyer = request.args.get("buyer_id")
        usable = isinstance(buyer, str) and 0 < len(buyer) <= 64 and buyer.isprintable()
        keyring = (key_cache.get("buyer_id", buyer, "pixel", keys_needed=False) if usable
                   else None)
        tenant_id = g.tenant_id = keyring.tenant_id if keyring else None
    return tenant_id  # type: ignore[return-value]


def over_limit(limit: RequestLimit) -> Response | None:
    """A 429 as the image with ``X-Conversions-Error: rate_limited``, unless JSON is asked."""
    if wants_json():
        return None
    return gif(429, "rejected", {"X-Conversions-Error": "rate_limited"})


@bp.errorhandler(RequestEntityTooLarge)
def too_large(err: RequestEntityTooLarge) -> Response:
    """An oversized beacon still gets the image (or JSON when asked), like any refusal."""
    return refuse(413, "payload_too_large", "The body is larger than the limit.")


_GIF = {"image/gif": {"schema": {"type": "string", "format": "binary"}}}


def _pixel_answer(description: str, status_json: Any) -> dict[str, Any]:
    """A pixel answer: the GIF, or JSON when the client sends ``Accept: application/json``."""
    return {"description": description,
            "content": {**_GIF, "application/json": {"schema": status_json}},
            "headers": {"Cache-Control": {"description": "Never cached.",
                                          "schema": {"type": "string"}},
                        "X-Conversions-Error": {
                            "description": "On a refusal answered with the image: the error "
                                           "code.",
                            "schema": {"type": "string"}}}}


def _pixel_responses() -> dict[str, Any]:
    return {
        "200": _pixel_answer("Stored or a duplicate (GIF), or a duplicate (JSON).",
                             EventAccepted),
        "202": json_answer("Stored, or kept as a test event (JSON answer).",
                           flagged_tests.accepted_or_test(EventAccepted)),
        "400": _pixel_answer("A parameter breaks a rule; X-Conversions-Error names it.",
                             "Error"),
        "429": {**_pixel_answer("Over the rate limit.", "Error"),
                "headers": {"Retry-After": {"required": True, "schema": {"type": "string"}}}},
        **openapi.errors(503)}


_PIXEL_SUMMARY = "A browser pixel event (unsigned hint); answers a 43-byte transparent GIF."


@bp.route(PIXEL_PATH, methods=["GET", "POST"])
@openapi.operation("get", summary=_PIXEL_SUMMARY, tags=["ingestion"],
                   query=schemas.PixelEvent, parameters=flagged_tests.PARAMETERS,
                   responses=_pixel_responses())
@openapi.operation("post", summary=_PIXEL_SUMMARY, tags=["ingestion"],
                   parameters=flagged_tests.PARAMETERS, requestBody={"content": {
                       "application/json": {"schema": schemas.PixelEvent},
                       "application/x-www-form-urlencoded": {"schema": schemas.PixelEvent}}},
                   responses={**_pixel_responses(),
                              "413": _pixel_answer("The body is over the limit.", "Error")})
@limits.ingest("pixel", tenant=buyer_tenant, on_breach=over_limit)
def track_pixel() -> ResponseReturnValue:
    if request.method == "HEAD":  # link checkers and prefetchers must not store events
        response = refuse(405, "method_not_allowed", "Use GET or POST to send an event.")
        response.headers["Allow"] = "GET, POST"
        return response
    try:
        data = params()
        event = load_pixel(data)
    except errors.ApiError as err:
        return refuse_with(err)
    tenant_id = buyer_tenant()
    if tenant_id is None:
        return refuse(400, "unknown_buyer", "No tenant is registered for this buyer_id.")
    test_code = flagged_tests.code(data)
    if test_code is not None:
        return test_pixel(tenant_id, test_code, data)
    event_id, duplicate = insert_event(pixel_row(tenant_id, event, clock.now_ms()))
    (tally.duplicate if duplicate else tally.accepted)(tenant_id, "pixel")
    outcome = "duplicate" if duplicate else "accepted"
    if wants_json():
        return answer(200 if duplicate else 202, outcome,
                      {"event_id": str(event_id), "duplicate": duplicate})
    return gif(200, outcome)


def test_pixel(tenant_id: str, test_code: str, data: dict[str, Any]) -> ResponseReturnValue:
    """A valid pixel flagged as a test: kept apart (``flagged_tests``), answered as accepted."""
    if not flagged_tests.well_formed(test_code):
        return refuse(400, "invalid_parameter", "test_event_code is malformed.",
                      fields=flagged_tests.MALFORMED)
    test_id = flagged_tests.keep(tenant_id, "pixel", test_code, data)
    if wants_json():
        return answer(202, "test", flagged_tests.accepted_body(test_id, test_code))
    return gif(200, "test")
