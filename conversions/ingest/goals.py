"""``POST /api/v1/track/pixel/goal``: canonical-JSON signed goal events (docs/signing.md §1)."""
from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from conversions.core import canonical, clock
from conversions.ingest import flagged_tests, limits, schemas
from conversions.ingest.events import EventAccepted, goal_row
from conversions.ingest.signing import GOAL_BODY, GOAL_PATH, GOAL_RENDERINGS, verified_tenant
from conversions.rollups import tally
from conversions.store.events import insert_event
from conversions.web import openapi
from conversions.web.errors import ApiError
from conversions.web.responses import json_response

bp = Blueprint("goals", __name__)


@bp.post(GOAL_PATH)
@openapi.operation(
    "post", tags=["ingestion"], security=[{"goalSignature": []}],
    summary="A signed goal event (canonical JSON, hex HMAC-SHA256; docs/signing.md §1).",
    parameters=[{"in": "query", "name": "domain", "required": True,
                 "schema": {"type": "string"},
                 "description": "The tenant's registered domain."},
                *flagged_tests.PARAMETERS],
    requestBody={"required": True,
                 "content": {"application/json": {"schema": schemas.GoalEvent}}},
    responses={
        "202": openapi.json_answer("Stored (or kept apart as a test event).",
                                   flagged_tests.accepted_or_test(EventAccepted)),
        "200": openapi.json_answer("A duplicate (stored once already).", EventAccepted),
        **openapi.errors(400, 401, 404, 411, 413, 429, 503)})
@limits.ingest("goal")
def track_goal() -> ResponseReturnValue:
    tenant_id = verified_tenant()
    test_code = flagged_tests.valid_code()
    body = request.environ.get(GOAL_BODY)
    if body is None:
        try:
            body = canonical.parse_body(request.environ["hmac.body"])
        except canonical.NotJson as err:
            raise ApiError(400, "invalid_json", str(err)) from None
    row = goal_row(tenant_id, body, clock.now(), request.environ.get(GOAL_RENDERINGS))
    if test_code is not None:
        return flagged_tests.accepted(tenant_id, "goal", test_code, body)
    event_id, duplicate = insert_event(row)
    (tally.duplicate if duplicate else tally.accepted)(tenant_id, "goal")
    return json_response({"event_id": str(event_id), "duplicate": duplicate},
                         200 if duplicate else 202)
