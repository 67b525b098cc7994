"""OpenAPI operations of provider postbacks and offline CSV imports."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from conversions.api_paths import TEST_FLAGS, accepted_or_test, admin, errors, json_response
from conversions.postback_providers import PROVIDERS


class PostbackAccepted(Schema):
    """A postback's event: stored (202), a duplicate (200), or approved now (202, updated)."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)
    updated = fields.Boolean(required=True, metadata={
        "description": "A declined, pending or other conversion was approved by this one."})
    status = fields.String(allow_none=True, metadata={
        "description": "approved, pending, declined or other (RedTrack), else null."})
    time_estimated = fields.Boolean(required=True, metadata={
        "description": "No event time was sent: the receipt time stands in for it."})


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


def _postback(method: str) -> dict[str, Any]:
    body = {} if method == "get" else {"requestBody": {"content": {
        "application/json": {"schema": {"type": "object"}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}}
    return {
        "summary": "A provider's postback; the token in the path names the tenant.",
        "description": "Parameters are the provider's own (docs/postbacks.md). "
                       "Providers: " + ", ".join(f"{name} ({p.methods})"
                                                 for name, p in PROVIDERS.items()) + ".",
        "tags": ["ingestion"],
        "parameters": [
            {"in": "path", "name": "provider", "required": True,
             "schema": {"type": "string", "enum": list(PROVIDERS)}},
            {"in": "path", "name": "token", "required": True, "schema": {"type": "string"},
             "description": "A live token of `tenant postback-token`."},
            *TEST_FLAGS,
        ],
        **body,
        "responses": {
            "202": json_response("Stored, approved now, or kept as a test event.",
                                 accepted_or_test(PostbackAccepted)),
            "200": json_response("A duplicate (stored once already).", PostbackAccepted),
            **errors(400, 401, 403, 413, 429, 503),
        },
    }


def postback_paths() -> dict[str, dict[str, Any]]:
    return {"/api/conversions/postback/{provider}/{token}": {
        "get": _postback("get"), "post": _postback("post")}}


def import_paths() -> dict[str, dict[str, Any]]:
    flags = [{"in": "query", "name": name, "schema": {"type": "boolean"}, "description": text}
             for name, text in (("dry_run", "Judge and count every row; store nothing."),
                                ("partial", "Store the valid rows even when others are "
                                            "refused."))]
    return {"/api/conversions/imports": {"post": admin({
        "summary": "Offline conversions from a CSV file (generic or Google Ads' template).",
        "description": "UTF-8 with or without BOM, ',' or ';', quoted fields; rows keyed by "
                       "event_id (Order ID) or a digest, so a re-upload stores nothing twice. "
                       "Without partial=true any refused row stores nothing (422).",
        "tags": ["operations"],
        "parameters": [
            {"in": "query", "name": "tenant_id", "required": True, "schema": {"type": "string"}},
            {"in": "query", "name": "format", "required": True,
             "schema": {"type": "string", "enum": ["generic", "google_ads"]}},
            *flags,
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
    })}}
