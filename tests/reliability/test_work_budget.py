"""Every request bounded by its input (issue 24): on every documented endpoint, hostile
input at the size limit and at an eighth of it, measured per request: the CPU it costs (this
process's CPU time, never the clock), the bytes it answers, the bytes it writes to the store
and how far it raises the peak RSS. Each must stay under a stated ceiling and grow about as
the input does; the test compares the two sizes in the same run.

Two kinds of input: hypothesis-generated structure (JSON bodies and queries: depth, width,
many small hits such as thousands of e-mail-shaped strings, long keys, mixed), and strings
built to make a backtracking pattern work harder, in every text-accepting field. Fields come
from the OpenAPI document, so a new parameter or body field is covered (and one the test
cannot build fails it). The maxima per endpoint are written to
``tests/artifacts/work-budget.json``."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from peewee import CharField, TextField, fn

from conversions.core import canonical, clock
from conversions.settings_page.forms import SCOPES, field_name
from conversions.store.database import connection
from conversions.store.models import (
    Event,
    IngestionFailure,
    IngestionTestEvent,
    WebhookDelivery,
)
from conversions.tenants import postback_tokens
from conversions.tenants import settings as tenant_settings
from tests.support import ROOT, concrete, csrf, goal_mac, openapi_document, postgres_pass
from tests.webhook_senders import hand_headers

pytestmark = [
    pytest.mark.slow,
    # What is measured is parsing and scanning, the same on either store: once is enough.
    pytest.mark.skipif(postgres_pass(), reason="measured in the SQLite pass"),
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                       reason="the peak RSS is measured through Linux's /proc"),
]

DOCUMENT = openapi_document()
TOKEN = "work-budget-admin-token"  # noqa: S105  (a test credential)

# What one request may carry: gunicorn's request line and header field limits (the query
# string, a path, a header), and the body limits.
LINE_LIMIT = 8000
BODY_LIMITS = {"/api/conversions/webhook": 1024 * 1024}  # else MAX_CONTENT_LENGTH (64 KiB)
SMALLER = 8  # the small size is the limit divided by this
# Linear work may grow up to the size ratio (less, with a request's fixed cost); quadratic
# work grows by its square. Three times the ratio leaves room for a noisy machine.
ALLOWED_GROWTH = 3 * SMALLER

# The ceilings of one request at the largest size (a 1 MiB webhook), generous for a loaded
# 2-core machine. The attack of issue 24 cost 8 s of CPU and answered and stored 72 MB.
CPU_CEILING = 0.75  # seconds of this process's CPU
ANSWER_CEILING = 16 * 1024  # bytes more than the answer at an eighth of the size
STORE_SLACK = 8 * 1024  # bytes written beyond the input's own size
RSS_CEILING = 96 * 1024 * 1024  # bytes the peak RSS may rise

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
    ("/settings/system/limits", "post"): [field_name(base, scope)
                                          for base in tenant_settings.SETTINGS
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
    """Sends one request with ``field`` set to text of about ``size`` bytes (``where``
    "none": none set), and ``extra_query``'s pairs added to its query."""

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
        self.extra_query: list[tuple[str, str]] = []
        with connection():
            self.token = postback_tokens.issue(tenant["tenant_id"], "http://unused")["token"]

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
        # Encoded here: a lone surrogate goes as the bytes it stands for (invalid UTF-8).
        query = urlencode([*query.items(), *self.extra_query], errors="surrogatepass")
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
                   "X-LP-Goal-Signature": goal_mac(bytes.fromhex(self.tenant["pixel_secret"]),
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


    def json_post(self, url: str, raw: bytes, query: str, headers: dict[str, str]):
        return self.client.post(f"{url}?{query}", data=raw, headers={
            "Content-Type": "application/json", "Accept": "application/json", **headers})


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


# Structure: hypothesis chooses a shape, built at the limit and at an eighth of it.

LEAVES: dict[str, Callable[[int], str]] = {
    "email": lambda n: f"u{n}@ex.io",
    "phone": lambda n: f"+1 555 {n % 1000:03d} 4567",
    "ssn": lambda n: f"123-45-{n % 10000:04d}",
    "digits": lambda n: f"{n:012d}",
    "surrogate": lambda n: f"x{n}\ud800",
    "plain": lambda n: f"v{n}",
}


@dataclass(frozen=True)
class Shape:
    """Nesting ``depth`` (lists at odd levels when ``lists``), its keys taking ``key_share`` of
    the size, leaves of ``leaf`` kind (or every kind in turn) grouped ``width`` a container."""

    depth: int
    width: int
    leaf: str
    key_share: float
    lists: bool

    def build(self, size: int) -> Any:
        """A JSON value of about ``size`` bytes."""
        key_length = max(1, int(size * self.key_share) // self.depth)
        top: dict[str, Any] = {}
        node: Any = top
        for level in range(self.depth - 1):
            child: Any = [] if self.lists and level % 2 else {}
            if isinstance(node, dict):
                node[f"k{level}".ljust(key_length, "k")] = child
            else:
                node.append(child)
            node = child
        kinds = list(LEAVES) if self.leaf == "mixed" else [self.leaf]
        used, group, count = len(json.dumps(top)), None, 0
        while used < size:
            if group is None or len(group) == self.width:
                group = {} if isinstance(node, list) else []
                if isinstance(node, list):
                    node.append(group)
                else:
                    node[f"g{count}"] = group
                used += 8
            leaf = LEAVES[kinds[count % len(kinds)]](count)
            if isinstance(group, dict):
                group[f"f{count}"] = leaf
                used += 6
            else:
                group.append(leaf)
            used += len(json.dumps(leaf)) + 4
            count += 1
        return top


# Issue 24's attack: long keys 30 deep over thousands of e-mail-shaped strings.
ATTACK = Shape(depth=30, width=64, leaf="email", key_share=0.5, lists=False)
shapes = st.builds(Shape, depth=st.integers(1, 40), width=st.integers(1, 64),
                   leaf=st.sampled_from([*LEAVES, "mixed"]),
                   key_share=st.sampled_from([0.0, 0.1, 0.5]), lists=st.booleans())


class Target(NamedTuple):
    """A JSON endpoint: its body limit's setting, and one request with ``value`` in it."""

    limit: str
    send: Callable[[Driver, Any, str], Any]


def _pixel(driver: Driver, value: Any, query: str):
    return driver.json_post("/api/conversions/pixel",
                            json.dumps({**PIXEL, "extra": value}).encode(), query, {})


def _webhook(driver: Driver, value: Any, query: str):
    event = {**WEBHOOK_EVENT, "event_ts": str(int(clock.now()) - 60),
             "properties": {"extra": value}}
    raw = json.dumps(event).encode()
    return driver.json_post("/api/conversions/webhook", raw, f"buyer_id=buyer-1&{query}",
                            hand_headers([driver.tenant["webhook_secret"]], raw))


def _batch(driver: Driver, value: Any, query: str):
    events = [{**WEBHOOK_EVENT, "event_id": f"o{n}", "event_ts": str(int(clock.now()) - 60),
               "properties": {"extra": part}} for n, part in enumerate(value)]
    raw = json.dumps({"events": events}).encode()
    return driver.json_post("/api/conversions/webhook", raw, f"buyer_id=buyer-1&{query}",
                            hand_headers([driver.tenant["webhook_secret"]], raw))


def _goal(driver: Driver, value: Any, query: str):
    raw = json.dumps({**GOAL, "extra": value}).encode()
    rendering = canonical.renderings(canonical.parse_body(raw), driver.tenant["tenant_id"])[0]
    signature = goal_mac(bytes.fromhex(driver.tenant["pixel_secret"]), rendering)
    return driver.json_post("/api/v1/track/pixel/goal", raw, f"domain=shop.example.com&{query}",
                            {"X-LP-Goal-Signature": signature})


def _postback(provider: str, wrap: Callable[[Any], dict[str, Any]]):
    def send(driver: Driver, value: Any, query: str):
        return driver.json_post(f"/api/conversions/postback/{provider}/{driver.token}",
                                json.dumps(wrap(value)).encode(), query, {})
    return send


TARGETS = {
    "pixel": Target("MAX_CONTENT_LENGTH", _pixel),
    "webhook": Target("WEBHOOK_MAX_BODY", _webhook),
    "webhook batch": Target("WEBHOOK_MAX_BODY", _batch),
    "goal": Target("GOAL_MAX_BODY", _goal),
    "postback generic": Target("POSTBACK_MAX_BODY", _postback(
        "generic", lambda value: {"event_name": "purchase", "extra": value})),
    "postback appsflyer": Target("POSTBACK_MAX_BODY", _postback(
        "appsflyer", lambda value: {"event_name": "af_purchase",
                                    "event_value": json.dumps(value)})),
    "postback branch": Target("POSTBACK_MAX_BODY", _postback(
        "branch", lambda value: {"name": "PURCHASE", "event_data": value})),
}
BATCH_EVENTS = 20


STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


class Cost(NamedTuple):
    cpu: float
    answer: int
    stored: int
    rss: int


def stored_bytes() -> int:
    """The bytes of text a request may write: events, dead letters, test events, deliveries."""
    total = 0
    with connection():
        for model in (Event, IngestionFailure, IngestionTestEvent, WebhookDelivery):
            texts = [fn.COALESCE(fn.LENGTH(field.cast("blob")), 0)
                     for field in model._meta.sorted_fields
                     if isinstance(field, (TextField, CharField))]
            total += model.select(fn.SUM(sum(texts[1:], texts[0]))).scalar() or 0
    return total


def status_kib(name: str) -> int:
    return int(re.search(rf"{name}:\s+(\d+)", STATUS.read_text())[1])  # type: ignore[index]


def measure(send: Callable[[], Any]) -> Cost:
    """One request's CPU, answer bytes, stored bytes and rise of the peak RSS (Linux: the
    peak reset before it, ``clear_refs``, so earlier tests' peaks do not hide it)."""
    store = stored_bytes()
    CLEAR_REFS.write_text("5")
    rss = status_kib("VmRSS")
    start = time.process_time()
    response = send()
    cpu = time.process_time() - start
    rise = (status_kib("VmHWM") - rss) * 1024
    assert response.status_code < 500, response.data[:300]
    return Cost(cpu, len(response.get_data()), stored_bytes() - store, rise)


MAXIMA: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    """Write each endpoint's measured maxima, with the ceilings, for the record."""
    yield
    if MAXIMA:
        path = ROOT / "tests" / "artifacts" / "work-budget.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"ceilings": {
            "cpu_seconds": CPU_CEILING, "answer_bytes": ANSWER_CEILING,
            "stored_bytes": f"input + {STORE_SLACK}", "peak_rss_rise_bytes": RSS_CEILING,
            "growth_for_8x_input": ALLOWED_GROWTH}, "maxima": MAXIMA}, indent=1) + "\n")


def judge(name: str, size: int, small: Callable[[], Cost], large: Callable[[], Cost]) -> None:
    """Both sizes under the ceilings, the limit's cost within ``ALLOWED_GROWTH`` times the
    small one's (the CPU the least of two runs each, again only when it looks superlinear)."""
    little = [small(), small()]
    big = [large()]
    low_cpu = min(cost.cpu for cost in little)
    if big[0].cpu > ALLOWED_GROWTH * low_cpu + 0.005:
        big.append(large())
    high_cpu = min(cost.cpu for cost in big)
    worst = Cost(*(max(values) for values in zip(*little, *big, strict=False)))
    seen = MAXIMA.setdefault(name, {"cpu_seconds": 0.0, "answer_bytes": 0, "stored_bytes": 0,
                                    "peak_rss_rise_bytes": 0, "input_bytes": size})
    for key, value in zip(seen, (high_cpu, *worst[1:]), strict=False):
        seen[key] = max(seen[key], round(value, 4) if isinstance(value, float) else value)
    assert high_cpu <= CPU_CEILING, (name, high_cpu)
    assert high_cpu <= ALLOWED_GROWTH * low_cpu + 0.005, (name, high_cpu, low_cpu)
    # A settings page answers its own HTML whatever the input: the input may add the ceiling.
    assert worst.answer <= ANSWER_CEILING + min(cost.answer for cost in little), (name, worst)
    assert worst.stored <= size + STORE_SLACK, (name, worst)
    assert worst.rss <= RSS_CEILING, (name, worst)


BUDGET_SETTINGS = settings(max_examples=4, deadline=None, database=None,
                           suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("target", list(TARGETS))
@BUDGET_SETTINGS
@given(shape=shapes, test=st.booleans())
@example(shape=ATTACK, test=True)
def test_structured_bodies_cost_what_their_size_does(driver, target, shape, test):
    limit = int(driver.app.config[TARGETS[target].limit]) - 1024
    query = "test_event_code=T1" if test else ""

    def sender(size: int) -> Callable[[], Cost]:
        if target == "webhook batch":
            value: Any = [shape.build(size // BATCH_EVENTS) for _ in range(BATCH_EVENTS)]
        else:
            value = shape.build(size if target != "postback appsflyer" else size // 2)
        return lambda: measure(lambda: TARGETS[target].send(driver, value, query))

    judge(target, limit, sender(limit // SMALLER), sender(limit))


def _pairs(shape: Shape, size: int) -> list[tuple[str, str]]:
    """Query pairs of about ``size`` bytes: ``shape.width`` names (repeated), long when its
    keys take a share, holding its leaves."""
    kinds = list(LEAVES) if shape.leaf == "mixed" else [shape.leaf]
    key_length = max(1, int(size * shape.key_share) // shape.width)
    pairs, used = [], 0
    while used < size:
        n = len(pairs)
        pairs.append((f"q{n % shape.width}".ljust(key_length, "q"),
                      LEAVES[kinds[n % len(kinds)]](n)))
        used += len(urlencode([pairs[-1]], errors="surrogatepass")) + 1
    return pairs


def query_operations() -> list[tuple[str, str]]:
    return [op for op in operations() if "{provider}" not in op[0]] + [
        (f"/api/conversions/postback/{provider}/{{token}}", method)
        for provider in ("generic", "appsflyer") for method in ("get", "post")]


@pytest.mark.parametrize(("path", "method"), query_operations())
@settings(max_examples=2, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(shape=shapes)
@example(shape=Shape(depth=1, width=500, leaf="email", key_share=0.5, lists=False))
def test_structured_queries_cost_what_their_size_does(driver, path, method, shape):
    def sender(size: int) -> Callable[[], Cost]:
        pairs = _pairs(shape, size)

        def send():
            driver.extra_query = pairs
            if "{token}" in path:
                url = path.replace("{token}", driver.token)
                return driver.client.open(url, method=method.upper(),
                                          query_string=urlencode(pairs,
                                                                 errors="surrogatepass"))
            return driver.send(path, method, "none", "", None, 0)
        return lambda: measure(send)

    judge(f"{method.upper()} {path} query", LINE_LIMIT,
          sender(LINE_LIMIT // SMALLER), sender(LINE_LIMIT))
