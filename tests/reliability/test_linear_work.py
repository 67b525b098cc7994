"""Every request's work is linear in its size: every text-accepting field of every documented
endpoint (query, path and header parameters, JSON and form fields) gets strings built to make a
backtracking pattern work harder (long digit runs, long runs before an "@", alternations), at
the field's size limit and at an eighth of it. The CPU the request costs must grow about as
the size does: the test compares the two sizes' CPU in the same run, never to a clock.

Fields come from the OpenAPI document, so a new parameter or body field is covered (and one
the test cannot build fails it)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from conversions.core import canonical, clock
from conversions.settings_page.forms import SCOPES, field_name
from conversions.tenants import settings
from tests.reliability.goal_signing import mac
from tests.security.conftest import concrete
from tests.settings_page.conftest import csrf
from tests.support import openapi_document, postgres_pass
from tests.webhook_senders import hand_headers

pytestmark = [
    pytest.mark.slow,
    # What is measured is parsing and scanning, the same on either store: once is enough.
    pytest.mark.skipif(postgres_pass(), reason="measured in the SQLite pass"),
]

DOCUMENT = openapi_document()
TOKEN = "linear-work-admin-token"  # noqa: S105  (a test credential)

# What one request may carry: gunicorn's request line and header field limits (the query
# string, a path, a header), and the body limits.
LINE_LIMIT = 8000
BODY_LIMITS = {"/api/conversions/webhook": 1024 * 1024}  # else MAX_CONTENT_LENGTH (64 KiB)
SMALLER = 8  # the small size is the limit divided by this
# Linear work may grow up to the size ratio (less, with a request's fixed cost); quadratic
# work grows by its square. Three times the ratio leaves room for a noisy machine.
ALLOWED_GROWTH = 3 * SMALLER

ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "digit run": lambda n: "1" * (n - 1) + "x",
    "run before @": lambda n: "a" * (n - 1) + "@",
    "alternating local parts and labels": lambda n: "a@b." * (n // 4),
    "phone-like": lambda n: ("+1 " + "2" * 12 + " ") * (n // 16),
    "space run": lambda n: " " * (n - 1) + "x",
}

WEBHOOK_EVENT = {"event_name": "purchase", "event_value": "12.50", "currency": "USD",
                 "event_id": "order-1", "properties": {"note": "fine"}}
GOAL = {"event_name": "purchase", "session_id": "s-1", "first_touch_bucket": "ai_search",
        "first_touch_ts": "2026-11-20T08:00:00Z",
        "properties": {"value": 10, "currency": "USD", "plan": "pro"}}
PIXEL = {"buyer_id": "buyer-1", "event_name": "view"}
# Fields the document does not spell out: a webhook's free-form properties (a value and a
# name), a stray pixel parameter, and the settings form's one field per setting and scope.
EXTRA_FIELDS = {
    ("/api/conversions/webhook", "post"): ["properties.note", "properties(key)"],
    ("/api/conversions/pixel", "get"): ["cache_buster"],
    ("/api/conversions/pixel", "post"): ["cache_buster"],
    ("/settings/system/limits", "post"): [field_name(base, scope) for base in settings.SETTINGS
                                          for scope in SCOPES],
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:  # the webhook: one event (a batch holds the same fields)
        return _resolve(schema["oneOf"][0])
    return schema


def body_fields(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field of a body schema, nested objects' as ``properties.plan``."""
    out = []
    for name, inner in _resolve(schema).get("properties", {}).items():
        inner = _resolve(inner)
        if inner.get("properties"):
            out += body_fields(inner, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def cases() -> list[tuple[str, str, str, str]]:
    """``(path, method, where, field)`` for every documented text-accepting field."""
    out = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                out.append((path, method, parameter["in"], parameter["name"]))
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                where = "json" if media_type == "application/json" else "form"
                out += [(path, method, where, name) for name in body_fields(media["schema"])]
            where = "json" if path == "/api/conversions/webhook" else "form"
            out += [(path, method, where, name) for name in EXTRA_FIELDS.get((path, method), [])]
    return out


def put(body: dict[str, Any], field: str, text: str) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    if field == "properties(key)":
        body["properties"] = {text: "x"}
        return body
    *parents, last = field.split(".")
    place = body
    for name in parents:
        place = place.setdefault(name, {})
        if not isinstance(place, dict):
            return body
    place[last] = text
    return body


def sized(text_for: Callable[[int], str], budget: int, encode: Callable[[str], str]) -> str:
    """The adversarial text whose encoded form fills ``budget`` bytes (near enough)."""
    text = text_for(budget)
    encoded = len(encode(text))
    return text if encoded <= budget else text_for(budget * budget // encoded)


class Driver:
    """Sends one request with ``field`` set to text of about ``size`` bytes."""

    def __init__(self, app, tenant) -> None:
        self.app, self.tenant = app, tenant
        self.client = app.test_client()
        self.admin = {"Authorization": f"Bearer {TOKEN}"}
        self.query = {"tenant_id": tenant["tenant_id"], "domain": "shop.example.com",
                      "buyer_id": "buyer-1"}
        page = self.client.get("/settings/login")
        self.client.post("/settings/login", data={"csrf_token": csrf(page.text),
                                                  "token": TOKEN})
        self.csrf = csrf(self.client.get("/settings/system").text)

    def limit(self, path: str, where: str) -> int:
        if where in ("query", "path", "header"):
            return LINE_LIMIT
        return BODY_LIMITS.get(path, int(self.app.config["MAX_CONTENT_LENGTH"])) - 512

    def send(self, path: str, method: str, where: str, field: str, text_for, size: int):
        url, query, headers = concrete(path), dict(self.query), dict(self.admin)
        if where == "query":
            query[field] = sized(text_for, size, quote)
        elif where == "path":
            url = path.replace("{" + field + "}", quote(sized(text_for, size, quote), safe=""))
        elif where == "header":
            headers[field] = sized(text_for, size, str)
        if path == "/api/conversions/webhook":
            return self.webhook(url, query, headers, where, field, text_for, size)
        if path == "/api/v1/track/pixel/goal":
            body = put(GOAL, field, sized(text_for, size, json.dumps)) if where == "json" \
                else GOAL
            return self.goal(url, query, headers, body)
        if method == "get":
            return self.client.get(url, query_string=query, headers=headers)
        form = self.form(path)
        if where in ("form", "json"):
            encode = json.dumps if where == "json" else (lambda t: urlencode({field: t}))
            form[field] = sized(text_for, size, encode)
        if where == "json":
            return self.client.post(url, query_string=query, headers=headers, json=form)
        return self.client.post(url, query_string=query, headers=headers, data=form)

    def form(self, path: str) -> dict[str, Any]:
        if path.startswith("/settings/"):
            return {"csrf_token": self.csrf, "tenant_id": self.tenant["tenant_id"],
                    "kind": "pixel", "grace_seconds": "x", "token": "not-the-token"}
        return dict(PIXEL)

    def goal(self, url, query, headers, body):
        raw = json.dumps(body).encode()
        rendering = canonical.renderings(canonical.parse_body(raw), self.tenant["tenant_id"])[0]
        headers = {**headers, "Content-Type": "application/json",
                   "X-LP-Goal-Signature": mac(bytes.fromhex(self.tenant["pixel_secret"]),
                                              rendering)}
        return self.client.post(url, query_string=query, headers=headers, data=raw)

    def webhook(self, url, query, headers, where, field, text_for, size):
        event = {**WEBHOOK_EVENT, "event_ts": str(int(clock.now()) - 60)}
        if where == "json":
            event = put(event, field, sized(text_for, size, json.dumps))
        raw = json.dumps(event).encode()
        message_id = headers.pop("webhook-id", None)
        signed = hand_headers([self.tenant["webhook_secret"]], raw, msg_id=message_id)
        if "webhook-timestamp" in headers:
            signed["webhook-timestamp"] = headers.pop("webhook-timestamp")
        return self.client.post(url, query_string=query, data=raw, headers={**headers, **signed})


def cpu_of(send: Callable[[], Any], runs: int) -> float:
    """The least CPU time of ``runs`` sends (the least is the work; the rest is noise)."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        response = send()
        best = min(best, time.process_time() - start)
        assert response.status_code < 500, response.data[:300]
    return best


@pytest.fixture
def driver(app, tenant):
    app.config.update(ADMIN_TOKEN=TOKEN, SESSION_COOKIE_SECURE=False,
                      SETTINGS_LOGIN_RATE_LIMIT="1000000 per minute")
    return Driver(app, tenant)


def operations() -> list[tuple[str, str]]:
    return sorted({(path, method) for path, method, _, _ in cases()})


@pytest.mark.parametrize(("path", "method"), operations())
def test_the_work_of_every_field_grows_linearly_with_its_size(driver, path, method):
    growth = {}
    for _, _, where, field in [c for c in cases() if c[:2] == (path, method)]:
        limit = driver.limit(path, where)
        for name, text_for in ADVERSARIAL.items():
            def send(size, where=where, field=field, text_for=text_for):
                return lambda: driver.send(path, method, where, field, text_for, size)
            # The small size twice (cheap, and its noise weighs more); the limit once, again
            # only if it looks superlinear (a pause of the machine is not quadratic work).
            small = cpu_of(send(limit // SMALLER), 2)
            large = cpu_of(send(limit), 1)
            if large > ALLOWED_GROWTH * small:
                large = min(large, cpu_of(send(limit), 2))
            growth[f"{where} {field}, {name}"] = round(large / small, 1)
    superlinear = {case: ratio for case, ratio in growth.items() if ratio > ALLOWED_GROWTH}
    assert not superlinear, f"CPU grew more than {ALLOWED_GROWTH}x for {SMALLER}x the size: " \
        f"{superlinear}"
