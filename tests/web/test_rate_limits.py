"""flask-limiter bound through its public interface: without limits on every route, no
request pays its own per-request check; the sign-in page's limit holds
(``tests/settings_page/test_access.py``)."""
from __future__ import annotations

from flask import Flask

from conversions.web.rate_limits import limiter


def test_no_request_pays_flask_limiters_own_check(app, client):
    bare = Flask("bare")
    bare.config["RATELIMIT_STORAGE_URI"] = "memory://"
    limiter.init_app(bare)
    (check,) = bare.before_request_funcs[None]  # what flask-limiter adds to every request
    assert check not in app.before_request_funcs[None]
    assert {client.get("/healthz").status_code for _ in range(3)} == {200}
