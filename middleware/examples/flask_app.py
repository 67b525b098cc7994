"""A Flask app behind the middleware: ``gunicorn flask_app:app``."""
from __future__ import annotations

import base64
import os

from flask import Flask, abort, jsonify, request
from hook_keys import ROUTES

from wsgi_hmac import BodyDeadline, HmacMiddleware

app = Flask(__name__)


@app.post("/hooks/in")
@app.post("/hooks/webhook", endpoint="webhook")
def hook():
    if not request.environ.get("hmac.verified"):  # served without the middleware: refuse
        abort(403)
    return jsonify(client=request.environ["hmac.tenant_id"], key_id=request.environ["hmac.key_id"],
                   body=base64.b64encode(request.get_data()).decode())


@app.post("/open")
def open_door():
    return jsonify(body=base64.b64encode(request.get_data()).decode())


# Wrap app.wsgi_app, not app: `flask run`, gunicorn and the test client all keep working.
app.wsgi_app = BodyDeadline(HmacMiddleware(app.wsgi_app, ROUTES),
                            seconds=float(os.environ.get("HOOK_BODY_SECONDS", "10")))
