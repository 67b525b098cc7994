"""The middleware around a bare WSGI callable: no Flask, no ``conversions``."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from werkzeug.test import Client

from wsgi_hmac import (
    Failure,
    HeaderHmacScheme,
    HmacMiddleware,
    Key,
    Keyring,
    Route,
    StandardWebhookScheme,
)

SECRET = b"\x01" * 32
OLD_SECRET = b"\x02" * 32
NOW = 1_800_000_000


def echo_app(environ, start_response):
    """A bare WSGI app that reports what the middleware told it and re-reads the body."""
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if k.startswith("hmac.") and k != "hmac.body"}
    seen["body"] = body.decode("utf-8", "replace")
    payload = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def lookup(environ, fresh):
    if "tenant=unknown" in environ.get("QUERY_STRING", ""):
        return Failure(404, "unknown_tenant", "no such tenant")
    return Keyring("tenant-1", [Key("new", SECRET), Key("old", OLD_SECRET)])


def canonical_content(environ, body, keyring):
    try:
        data = json.loads(body)
    except ValueError:
        return Failure(400, "invalid_json", "not JSON")
    data["tenant_id"] = keyring.tenant_id
    return [json.dumps(data, sort_keys=True, separators=(",", ":")).encode()]


def make_client(**route_options) -> Client:
    routes = [
        Route("/raw", HeaderHmacScheme("X-Signature"), lookup, max_body=100, **route_options),
        Route("/b64", HeaderHmacScheme("X-Signature", encoding="base64"), lookup),
        Route("/canonical", HeaderHmacScheme("X-Signature", content=canonical_content), lookup),
        Route("/webhook", StandardWebhookScheme(tolerance=300), lookup),
    ]
    return Client(HmacMiddleware(echo_app, routes, clock=lambda: NOW))


def hexmac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def webhook_headers(body: bytes, key: bytes = SECRET, msg_id: str = "msg_1",
                    timestamp: int = NOW) -> dict[str, str]:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


BODY = b'{"a":1}'
CANON = b'{"a":1,"tenant_id":"tenant-1"}'


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "error"),
    [
        pytest.param("/raw", BODY, {"X-Signature": hexmac(SECRET, BODY)}, 200, None, id="raw-ok"),
        pytest.param("/raw", BODY, {"X-Signature": hexmac(OLD_SECRET, BODY)}, 200, None,
                     id="raw-second-key"),
        pytest.param("/raw", BODY, {"X-Signature": hexmac(SECRET, BODY).upper()}, 200, None,
                     id="raw-upper-hex"),
        pytest.param("/raw", BODY, {}, 401, "missing_signature", id="raw-no-header"),
        pytest.param("/raw", BODY, {"X-Signature": hexmac(b"wrong", BODY)}, 401,
                     "invalid_signature", id="raw-wrong-key"),
        pytest.param("/raw", BODY + b" ", {"X-Signature": hexmac(SECRET, BODY)}, 401,
                     "invalid_signature", id="raw-body-changed"),
        pytest.param("/raw", BODY, {"X-Signature": "zz"}, 401, "invalid_signature",
                     id="raw-not-hex"),
        pytest.param("/raw?tenant=unknown", BODY, {"X-Signature": hexmac(SECRET, BODY)}, 404,
                     "unknown_tenant", id="raw-lookup-failure"),
        pytest.param("/raw", b"x" * 101, {"X-Signature": hexmac(SECRET, b"x" * 101)}, 413,
                     "payload_too_large", id="raw-too-large"),
        pytest.param("/b64", BODY,
                     {"X-Signature": base64.b64encode(hmac.digest(SECRET, BODY, "sha256")).decode()},  # noqa: E501
                     200, None, id="b64-ok"),
        pytest.param("/canonical", BODY, {"X-Signature": hexmac(SECRET, CANON)}, 200, None,
                     id="canonical-ok"),
        pytest.param("/canonical", BODY, {"X-Signature": hexmac(SECRET, BODY)}, 401,
                     "invalid_signature", id="canonical-signed-raw-body"),
        pytest.param("/canonical", b"nope", {"X-Signature": hexmac(SECRET, b"nope")}, 400,
                     "invalid_json", id="canonical-content-failure"),
        pytest.param("/webhook", BODY, webhook_headers(BODY), 200, None, id="webhook-ok"),
        pytest.param("/webhook", BODY, webhook_headers(BODY, key=b"wrong"), 401,
                     "invalid_signature", id="webhook-wrong-key"),
        pytest.param("/webhook", BODY, webhook_headers(BODY, timestamp=NOW - 301), 401,
                     "stale_timestamp", id="webhook-stale"),
        pytest.param("/webhook", BODY, webhook_headers(BODY, timestamp=NOW + 301), 401,
                     "stale_timestamp", id="webhook-future"),
        pytest.param("/webhook", BODY, {**webhook_headers(BODY), "webhook-timestamp": "soon"},
                     401, "invalid_timestamp", id="webhook-bad-timestamp"),
        pytest.param("/webhook", BODY, {"webhook-id": "m", "webhook-timestamp": str(NOW)}, 401,
                     "missing_signature", id="webhook-no-signature"),
        pytest.param("/webhook", BODY, {**webhook_headers(BODY), "webhook-id": "other"}, 401,
                     "invalid_signature", id="webhook-id-changed"),
    ],
)
def test_verification(path, body, headers, status, error):
    response = make_client().post(path, data=body, headers=headers)
    assert response.status_code == status
    if error:
        assert response.json == {"error": error, "message": response.json["message"]}
    else:
        assert response.json["body"] == body.decode()
        assert response.json["hmac.verified"] is True
        assert response.json["hmac.tenant_id"] == "tenant-1"


def test_several_v1_signatures_one_match_is_enough():
    headers = webhook_headers(BODY)
    stale = webhook_headers(BODY, key=b"retired")["webhook-signature"]
    headers["webhook-signature"] = f"{stale} v2,abc {headers['webhook-signature']}"
    response = make_client().post("/webhook", data=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json["hmac.message_id"] == "msg_1"


def test_unsigned_paths_and_methods_pass_through_untouched():
    client = make_client()
    assert client.get("/raw").status_code == 200
    response = client.post("/elsewhere", data=b"anything")
    assert response.json == {"body": "anything"}


def test_client_cannot_forge_verification_keys():
    app = HmacMiddleware(echo_app, [])
    environ_overrides = {"hmac.verified": True, "hmac.tenant_id": "evil"}
    response = Client(app).post("/x", data=b"", environ_overrides=environ_overrides)
    assert response.json == {"body": ""}


def test_missing_content_length_is_refused_with_411():
    def no_length(environ, start_response):
        environ.pop("CONTENT_LENGTH", None)
        return middleware(environ, start_response)

    middleware = HmacMiddleware(echo_app, [Route("/raw", HeaderHmacScheme("X-Signature"), lookup)])
    response = Client(no_length).post("/raw", data=BODY, headers={"X-Signature": "00"})
    assert response.status_code == 411
    assert response.json["error"] == "length_required"


def test_failed_cached_keyring_is_looked_up_fresh_once():
    calls = []

    def rotating_lookup(environ, fresh):
        calls.append(fresh)
        if fresh:
            return Keyring("tenant-1", [Key("rotated", b"rotated")])
        return Keyring("tenant-1", [Key("stale", SECRET)], cached=True)

    routes = [Route("/raw", HeaderHmacScheme("X-Signature"), rotating_lookup)]
    signature = hexmac(b"rotated", BODY)
    response = Client(HmacMiddleware(echo_app, routes)).post(
        "/raw", data=BODY, headers={"X-Signature": signature})
    assert response.status_code == 200
    assert response.json["hmac.key_id"] == "rotated"
    assert calls == [False, True]


def test_guard_refuses_before_any_mac_is_computed_and_reject_hook_sees_it():
    seen = []

    def guard(environ, keyring):
        return Failure(429, "rate_limited", "slow down", (("Retry-After", "7"),))

    routes = [Route("/raw", HeaderHmacScheme("X-Signature"), lookup, guard=guard)]
    app = HmacMiddleware(echo_app, routes, on_reject=lambda e, f, k: seen.append((f.error, k)))
    response = Client(app).post("/raw", data=BODY, headers={"X-Signature": hexmac(SECRET, BODY)})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert seen[0][0] == "rate_limited"
    assert seen[0][1].tenant_id == "tenant-1"


def test_response_never_names_the_matching_key():
    response = make_client().post("/raw", data=b"{}", headers={"X-Signature": "00" * 32})
    assert "old" not in response.get_data(as_text=True)
    assert "new" not in response.get_data(as_text=True)
