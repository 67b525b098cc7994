"""OpenAPI descriptions of the operations endpoints: dead letters, error taxonomy, test
events and security status (their views answer plain dicts; these schemas describe them)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from conversions.web.openapi import admin, errors, json_response, query

Millis = fields.Integer  # Unix milliseconds


class DeadLetter(Schema):
    id = fields.String(required=True)
    tenant_id = fields.String(required=True, allow_none=True)
    source = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "The error code."})
    status = fields.Integer(required=True)
    received_at_ms = Millis(required=True)
    payload = fields.Raw(required=True, metadata={"description": "As received, PII masked."})
    detail = fields.Raw(required=True, allow_none=True)
    replayable = fields.Boolean(required=True)
    replayed_at_ms = Millis(required=True, allow_none=True)
    event_id = fields.String(required=True, allow_none=True)


class DeadLetters(Schema):
    failures = fields.List(fields.Nested(DeadLetter), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class Replayed(Schema):
    id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(
        ["stored", "duplicate", "already_replayed", "still_rejected"]))
    event_id = fields.String(allow_none=True)
    error = fields.String()
    fields_ = fields.Raw(data_key="fields", allow_none=True)


class Discarded(Schema):
    id = fields.String(required=True)
    discarded = fields.Boolean(required=True)


class ErrorCode(Schema):
    error = fields.String(required=True)
    status = fields.Integer(required=True)
    description = fields.String(required=True)
    action = fields.String(required=True)
    dead_letter = fields.Boolean(required=True)
    count = fields.Integer(required=True)
    dead_letters = fields.Integer(required=True, allow_none=True)


class Taxonomy(Schema):
    window_seconds = fields.Integer(required=True)
    errors = fields.List(fields.Nested(ErrorCode), required=True)


class TestEvent(Schema):
    id = fields.String(required=True)
    tenant_id = fields.String(required=True)
    source = fields.String(required=True)
    test_event_code = fields.String(required=True)
    received_at_ms = Millis(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(["accepted", "rejected"]))
    error = fields.String(required=True, allow_none=True)
    detail = fields.Raw(required=True, allow_none=True)
    payload = fields.Raw(required=True)


class TestEvents(Schema):
    test_events = fields.List(fields.Nested(TestEvent), required=True)


class SecretState(Schema):
    set = fields.Boolean(required=True)
    age_seconds = fields.Integer(required=True, allow_none=True)
    created_at_ms = Millis(required=True, allow_none=True)
    live_keys = fields.Integer(required=True)
    grace_until_ms = fields.List(Millis(), required=True)
    verifies = fields.List(fields.String(), required=True)


class TenantSecurity(Schema):
    tenant_id = fields.String(required=True)
    domain = fields.String(required=True)
    secrets = fields.Dict(keys=fields.String(), values=fields.Nested(SecretState), required=True)
    rate_limits = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    signature_failures = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        required=True, metadata={"description": "last_hour and last_day, by error code."})


class SecurityStatus(Schema):
    tenants = fields.List(fields.Nested(TenantSecurity), required=True)


TENANT = query("tenant_id", "Only this tenant's (UUID).", format="uuid")
FAILURE_ID = {"in": "path", "name": "failure_id", "required": True,
              "schema": {"type": "integer", "minimum": 1, "maximum": 2**62}}


class ImportError_(Schema):
    """One refused row: its spreadsheet row number (the header is row 1, or 2 after a
    Google Ads Parameters row), the column, the code and the reason."""

    row = fields.Integer(required=True)
    column = fields.String(allow_none=True)
    error = fields.String(required=True)
    message = fields.String(required=True)


class ImportResult(Schema):
    rows_read = fields.Integer(required=True)
    inserted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    errors = fields.List(fields.Nested(ImportError_), required=True)


_IMPORT_FLAGS = [{"in": "query", "name": name, "schema": {"type": "boolean"}, "description": text}
                 for name, text in (("dry_run", "Judge and count every row; store nothing."),
                                    ("partial", "Store the valid rows even when others are "
                                                "refused."))]


def _op(summary: str, parameters: list[dict[str, Any]], ok: dict[str, Any],
        *statuses: int) -> dict[str, Any]:
    return admin({"summary": summary, "tags": ["operations"], "parameters": parameters,
                  "responses": {"200": ok, **errors(400, 503, *statuses)}})


_IMPORT_CSV = admin({
    "summary": "Offline conversions from a CSV file (generic or Google Ads' template).",
    "description": "UTF-8 with or without BOM, ',' or ';', quoted fields; rows keyed by "
                   "event_id (Order ID) or a digest, so a re-upload stores nothing twice. "
                   "Without partial=true any refused row stores nothing (422). The body is "
                   "at most IMPORT_MAX_BODY (1 GiB; 413 beyond), read as a stream; a row is "
                   "at most 64 KiB (400 invalid_csv beyond).",
    "tags": ["operations"],
    "parameters": [
        {"in": "query", "name": "tenant_id", "required": True, "schema": {"type": "string"}},
        {"in": "query", "name": "format", "required": True,
         "schema": {"type": "string", "enum": ["generic", "google_ads"]}},
        *_IMPORT_FLAGS,
    ],
    "requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}},
    "responses": {
        "200": json_response("Imported (or counted, with dry_run).", ImportResult),
        "422": json_response("Rows break rules and nothing was stored: `import_refused`, "
                             "with the ImportResult fields and every error listed.",
                             "Error"),
        **errors(400, 404, 413, 415, 503),
    },
    })


OPERATIONS: dict[str, dict[str, Any]] = {
    "dead_letters.list_failures": {"get": _op(
        "Dead letters (refused events kept for replay), newest first.",
        [TENANT, query("reason", "Only this error code."),
         query("from", "Received from (ISO-8601 or Unix seconds)."),
         query("to", "Received before."), query("cursor", "next_cursor of a page."),
         query("limit", "1 to 500 (50).")],
        json_response("A page of dead letters.", DeadLetters), 404)},
    "dead_letters.replay_failure": {"post": _op(
        "Re-validate a dead letter with today's rules and store it when it passes.",
        [FAILURE_ID], json_response("The outcome.", Replayed), 404, 409, 413)},
    "dead_letters.discard_failure": {"post": _op(
        "Forget a dead letter.", [FAILURE_ID], json_response("Gone.", Discarded), 404, 413)},
    "taxonomy.error_taxonomy": {"get": _op(
        "Every error code: status, meaning, the sender's remedy, recent counts.",
        [TENANT, query("window_seconds", "Count window (60 to 2678400).")],
        json_response("The taxonomy.", Taxonomy), 404)},
    "test_events.latest": {"get": _op(
        "The latest test events with their verdicts.",
        [TENANT, query("test_event_code", "Only this code."), query("limit", "1 to 500 (50).")],
        json_response("Test events.", TestEvents), 404)},
    "security_status.status": {"get": _op(
        "Each tenant's secrets (never the secret), rotation grace, limits, failures.",
        [TENANT], json_response("Security status.", SecurityStatus), 404)},
    "imports.import_csv": {"post": _IMPORT_CSV},
}
