"""A Falcon app behind the middleware: ``gunicorn falcon_app:application``."""
from __future__ import annotations

import base64
import os

import falcon
from hook_keys import ROUTES

from wsgi_hmac import BodyDeadline, HmacMiddleware


class Hook:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.env.get("hmac.verified"):  # served without the middleware: refuse
            raise falcon.HTTPForbidden()
        resp.media = {"client": req.env["hmac.tenant_id"], "key_id": req.env["hmac.key_id"],
                      "body": base64.b64encode(req.bounded_stream.read()).decode()}


class Open:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"body": base64.b64encode(req.bounded_stream.read()).decode()}


app = falcon.App()
app.add_route("/hooks/in", Hook())
app.add_route("/hooks/webhook", Hook())
app.add_route("/open", Open())
application = BodyDeadline(HmacMiddleware(app, ROUTES),
                           seconds=float(os.environ.get("HOOK_BODY_SECONDS", "10")))
