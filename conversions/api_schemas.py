"""Marshmallow schemas of the API's responses, for the OpenAPI document."""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

from conversions.schemas import WebhookEvent


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


class EventAccepted(Schema):
    """A stored pixel event (as JSON): its id, and whether it had been received before."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)


class WebhookBatch(Schema):
    """Several events in one signed delivery, stored all or none."""

    events = fields.List(fields.Nested(WebhookEvent), required=True)


class WebhookAccepted(Schema):
    """A webhook delivery: how many of its events were stored, and their ids."""

    duplicate = fields.Boolean(required=True,
                               metadata={"description": "The webhook-id was seen before."})
    webhook_id = fields.String(required=True)
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    event_ids = fields.List(fields.String(), required=True)
