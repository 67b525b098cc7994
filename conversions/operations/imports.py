"""Offline conversions from CSV: ``POST /api/conversions/imports`` (admin token), and the
import itself, which ``flask import-csv`` and the settings page run too.

The body is the CSV itself (``text/csv``) or a multipart form's ``file`` field, read as a
stream (``ingest/csv_import.py``). Every row is read and judged before the store is written:
without ``partial=true`` one refused row stores nothing; ``dry_run=true`` judges and counts
without storing.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import IO, Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import clock
from conversions.ingest import csv_import
from conversions.rollups import tally
from conversions.store import events
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.errors import ApiError
from conversions.web.openapi import json_answer

bp = Blueprint("imports", __name__)


def limits(app: Flask) -> csv_import.Limits:
    """The rules' bounds for an import starting now."""
    config = app.config
    return csv_import.Limits(
        now=clock.now(), max_age=float(config["IMPORT_MAX_AGE_SECONDS"]),
        max_future=float(config["EVENT_MAX_FUTURE_SECONDS"]),
        max_errors=int(config["IMPORT_MAX_ERRORS"]))


def run(source: IO[bytes], tenant_id: str, fmt_name: str, bounds: csv_import.Limits, *,
        dry_run: bool = False, partial: bool = False,
        progress: Callable[[int], None] | None = None) -> csv_import.Result:
    """Import ``source`` for the tenant: every row read and judged first, then (unless
    ``dry_run``, or a row was refused without ``partial``) the valid new rows stored in
    batches, each committed. An interrupted import is finished by sending the file again."""
    fmt = csv_import.FORMATS[fmt_name]
    result = csv_import.Result(dry_run=dry_run)
    with tempfile.TemporaryDirectory(prefix="conversions-import-") as directory:
        staging = csv_import.Staging(directory)
        try:
            csv_import.stage(source, fmt, bounds, staging, result, progress)
            if result.refused and not partial:
                return result
            received_ms = int(bounds.now * 1000)
            for batch in staging.batches():
                keys = [key for key, _ in batch]
                if dry_run:
                    new = len(keys) - len(events.stored_keys(tenant_id, csv_import.SOURCE, keys))
                else:
                    new = events.insert_new([csv_import.event_row(
                        tenant_id, fmt.name, key, fields, received_ms) for key, fields in batch])
                result.inserted += new
                result.duplicates += len(keys) - new
        finally:
            staging.close()
    if not dry_run:
        tally.accepted(tenant_id, csv_import.SOURCE, result.inserted)
        tally.duplicate(tenant_id, csv_import.SOURCE, result.duplicates)
    return result


def refused_body(result: csv_import.Result, partial: str = "send partial=true"
                 ) -> dict[str, Any]:
    """An import refused whole: the one error shape, with every error listed; ``partial``
    says how to store the valid rows (the CLI's flag, the endpoint's parameter)."""
    return {"error": "import_refused",
            "message": f"{result.refused} of {result.rows_read} rows break rules; nothing was "
                       f"stored. Fix them, or {partial} to store the valid rows.",
            **result.body()}


def upload() -> IO[bytes]:
    """The CSV as a binary stream: the body, or the multipart field ``file``."""
    if request.mimetype == "multipart/form-data":
        sent = request.files.get("file")
        if sent is None:
            raise ApiError(400, "invalid_csv", "The form has no file field.")
        return sent.stream
    if request.mimetype not in ("text/csv", "text/plain", "application/csv",
                                "application/octet-stream"):
        raise ApiError(415, "unsupported_media_type",
                       "Send text/csv, or multipart/form-data with a file field.")
    return request.stream


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


class ImportQuery(params.Query):
    tenant_id = params.tenant_id()
    format = params.Choice("The file's layout.", tuple(csv_import.FORMATS), required=True,
                           error_messages={"required": "is required: "
                                           + " or ".join(csv_import.FORMATS)})
    dry_run = params.Flag("Judge and count every row; store nothing.")
    partial = params.Flag("Store the valid rows even when others are refused.")


@bp.post("/api/conversions/imports")
@openapi.operation(
    "post", query=ImportQuery, tags=["operations"],
    summary="Offline conversions from a CSV file (generic or Google Ads' template).",
    description="UTF-8 with or without BOM, ',' or ';', quoted fields; rows keyed by "
                "event_id (Order ID) or a digest, so a re-upload stores nothing twice. "
                "Without partial=true any refused row stores nothing (422). The body is "
                "at most IMPORT_MAX_BODY (1 GiB; 413 beyond), read as a stream; a row is "
                "at most 64 KiB (400 invalid_csv beyond).",
    requestBody={"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}},
    responses={
        "200": json_answer("Imported (or counted, with dry_run).", ImportResult),
        "422": json_answer("Rows break rules and nothing was stored: `import_refused`, "
                           "with the ImportResult fields and every error listed.", "Error"),
        **openapi.errors(400, 404, 413, 415, 503)})
@admin_required
def import_csv() -> ResponseReturnValue:
    query = params.load(ImportQuery)
    dry_run, partial = query.get("dry_run", False), query.get("partial", False)
    try:
        result = run(upload(), query["tenant_id"], query["format"], limits(current_app),
                     dry_run=dry_run, partial=partial)
    except csv_import.CsvError as err:
        raise ApiError(400, "invalid_csv", str(err)) from None
    if result.refused and not partial:
        return jsonify(refused_body(result)), 422
    return jsonify(result.body())
