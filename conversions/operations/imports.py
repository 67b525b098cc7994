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

from conversions.core import clock
from conversions.ingest import csv_import
from conversions.rollups import tally
from conversions.store import events
from conversions.web import params
from conversions.web.auth import admin_required
from conversions.web.errors import ApiError

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


def flag(name: str) -> bool:
    text = request.args.get(name, "").strip().lower()
    if text not in ("", "true", "false", "1", "0"):
        raise params.invalid(name, "must be true or false")
    return text in ("true", "1")


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


@bp.post("/api/conversions/imports")
@admin_required
def import_csv() -> ResponseReturnValue:
    tenant_id: str = params.tenant_id()  # type: ignore[assignment]
    fmt = params.choice("format", tuple(csv_import.FORMATS), None)
    if fmt is None:
        raise params.invalid("format", "is required: " + " or ".join(csv_import.FORMATS))
    dry_run, partial = flag("dry_run"), flag("partial")
    try:
        result = run(upload(), tenant_id, fmt, limits(current_app), dry_run=dry_run,
                     partial=partial)
    except csv_import.CsvError as err:
        raise ApiError(400, "invalid_csv", str(err)) from None
    if result.refused and not partial:
        return jsonify(refused_body(result)), 422
    return jsonify(result.body())
