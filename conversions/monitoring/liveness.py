"""``GET /healthz``: liveness for load balancers."""
from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.web import openapi
from conversions.web.openapi import json_answer

bp = Blueprint("liveness", __name__)


class Liveness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


@bp.get("/healthz")
@openapi.operation("get", summary="Liveness for load balancers (no auth, no database).",
                   tags=["operations"], responses={"200": json_answer("Alive.", Liveness)})
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")
