"""flask-limiter bound through its public interface, a limiter to each app: without limits on
every route, no request pays its own per-request check; the sign-in page's limit holds
(``tests/settings_page/test_access.py``)."""
from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app import create_app

PIXEL = "/api/conversions/pixel?buyer_id=buyer-1&event_name=view"


def test_no_request_pays_flask_limiters_own_check(app, client):
    bare = Flask("bare")
    bare.config["RATELIMIT_STORAGE_URI"] = "memory://"
    Limiter(get_remote_address).init_app(bare)
    (check,) = bare.before_request_funcs[None]  # what flask-limiter adds to every request
    assert check.__func__ not in {getattr(hook, "__func__", None)
                                  for hook in app.before_request_funcs[None]}
    assert {client.get("/healthz").status_code for _ in range(3)} == {200}


def test_two_apps_keep_their_own_limits_and_counts(database_url):
    def made(**config: object):
        return create_app({"TESTING": True, "DATABASE_URL": database_url, "LOG_FORMAT": "text",
                           **config}).test_client()

    strict = made(RATELIMIT_PER_ADDRESS="2 per minute")
    unlimited = made(RATELIMIT_ENABLED=False)
    twin = made(RATELIMIT_PER_ADDRESS="2 per minute")

    # The app made after it turned limits off for itself, not for this one.
    assert [strict.get(PIXEL).status_code for _ in range(3)][2] == 429
    assert 429 not in {unlimited.get(PIXEL).status_code for _ in range(5)}
    # The same limit in another app: the first app's requests were counted in its own store.
    assert twin.get(PIXEL).status_code != 429
