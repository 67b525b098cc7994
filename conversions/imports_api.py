"""``POST /api/conversions/imports``: offline conversions uploaded as CSV (admin token).

The body is the CSV itself (``text/csv``) or a multipart form's ``file`` field; either is
read as a stream (``conversions/csv_import.py``). ``dry_run=true`` judges and counts without
storing; ``partial=true`` stores the valid rows even when others are refused.
"""
from __future__ import annotations

from decimal import Decimal
from typing import IO

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from conversions import clock, csv_import, params
from conversions.auth import admin_required
from conversions.errors import ApiError

bp = Blueprint("imports", __name__)

PATH = "/api/conversions/imports"


def limits(app: Flask) -> csv_import.Limits:
    """The rules' bounds for an import starting now."""
    config = app.config
    return csv_import.Limits(
        now=clock.now(), max_age=float(config["IMPORT_MAX_AGE_SECONDS"]),
        max_future=float(config["EVENT_MAX_FUTURE_SECONDS"]),
        max_value=Decimal(str(config["MAX_EVENT_VALUE"])),
        max_errors=int(config["IMPORT_MAX_ERRORS"]))


def refused_body(result: csv_import.Result) -> dict:
    """An import refused whole: the one error shape, with every error listed."""
    return {"error": "import_refused",
            "message": f"{result.refused} of {result.rows_read} rows break rules; nothing was "
                       "stored. Fix them, or send partial=true to store the valid rows.",
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


@bp.post(PATH)
@admin_required
def import_csv() -> ResponseReturnValue:
    tenant_id: str = params.tenant_id()  # type: ignore[assignment]
    fmt = params.choice("format", tuple(csv_import.FORMATS), None)
    if fmt is None:
        raise params.invalid("format", "is required: " + " or ".join(csv_import.FORMATS))
    dry_run, partial = flag("dry_run"), flag("partial")
    request.max_content_length = int(current_app.config["IMPORT_MAX_BODY"])
    try:
        result = csv_import.run(upload(), tenant_id, fmt, limits(current_app),
                                dry_run=dry_run, partial=partial)
    except csv_import.CsvError as err:
        raise ApiError(400, "invalid_csv", str(err)) from None
    if result.refused and not partial:
        return jsonify(refused_body(result)), 422
    return jsonify(result.body())
