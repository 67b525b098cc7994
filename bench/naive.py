"""The naive way, for comparison: Flask + marshmallow + one SQLite commit per request.

Written as a Flask tutorial would (flaskr's ``get_db``: a connection per request), with
WAL and ``synchronous`` from ``NAIVE_SYNCHRONOUS`` (FULL by default). ``gunicorn
bench.naive:app`` serves ``GET /pixel`` with the service's pixel parameters.
"""
from __future__ import annotations

import base64
import os
import sqlite3
import time

import iso4217
from flask import Flask, Response, g, request
from marshmallow import Schema, ValidationError, fields, validate

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
DATABASE = os.environ.get("NAIVE_DATABASE", "naive.db")
SYNCHRONOUS = os.environ.get("NAIVE_SYNCHRONOUS", "FULL")
SCHEMA = """CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY, buyer_id TEXT NOT NULL, event_name TEXT NOT NULL,
    value_hundredths INTEGER, currency TEXT, event_id TEXT, received_at_ms INTEGER NOT NULL,
    UNIQUE (buyer_id, event_id))"""


class PixelSchema(Schema):
    buyer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    source_type = fields.String(validate=validate.Equal("pixel"))
    event_name = fields.String(required=True,
                               validate=validate.Regexp(r"^[A-Za-z0-9_.:\-]{1,64}$"))
    event_value = fields.Decimal(places=2, validate=validate.Range(0, 10000))
    currency = fields.String(validate=validate.OneOf([c.code for c in iso4217.Currency]))
    event_id = fields.String(validate=validate.Length(max=128))


schema = PixelSchema()
app = Flask(__name__)


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(DATABASE)
        g.db.execute("PRAGMA journal_mode=WAL")
        g.db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        g.db.execute("PRAGMA busy_timeout=5000")
    return g.db


@app.teardown_appcontext
def close_db(exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


@app.get("/pixel")
def pixel() -> Response:
    try:
        data = schema.load(request.args.to_dict())
    except ValidationError as err:
        return Response(str(err.messages), 400)
    value = data.get("event_value")
    db = get_db()
    db.execute(
        "INSERT OR IGNORE INTO event (buyer_id, event_name, value_hundredths, currency,"
        " event_id, received_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        (data["buyer_id"], data["event_name"], None if value is None else int(value * 100),
         data.get("currency"), data.get("event_id"), int(time.time() * 1000)))
    db.commit()
    return Response(GIF, mimetype="image/gif", headers={"Cache-Control": "no-store"})


def init_db() -> None:
    with sqlite3.connect(DATABASE) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)


init_db()
