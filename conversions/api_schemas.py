"""Marshmallow schemas of the API's responses, for the OpenAPI document."""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


class Error(Schema):
    """Every refusal: ``{"error": code, "message": text, ...}`` (more keys per error)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"description": "A stable error code."})
    message = fields.String(required=True, metadata={"description": "Human-readable text."})
    fields_ = fields.Dict(
        data_key="fields", keys=fields.String(),
        metadata={"description": "Where the problems are (invalid_event, pii_rejected)."},
    )


class GoalAccepted(Schema):
    """An accepted goal: its stored id, and whether it had been received before."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)


class Liveness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
