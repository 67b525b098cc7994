"""Write ``tests/vectors/signing.json``: the project's known answers for signing.

``.venv/bin/python -m tests.vectors.make_vectors`` (``--check`` only compares). Every goal's
canonical bytes are the service's own (``conversions.core.canonical.renderings``); webhook
signatures come from the public ``standardwebhooks`` package; pixel URLs are written here.
Tenants and secrets are derived from each case's name, so the output never changes unless
the cases do. The service, ``clients/python`` and ``clients/js`` are all tested against it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

from standardwebhooks import Webhook

from conversions.core import canonical
from tests.vectors import PATH

OUTPUT = PATH
# The moment the webhook and pixel cases are sent at (2026-11-24T20:26:40Z); tests set the
# service's clock to it.
SENT_AT = 1795600000
PIXEL_BASE = "https://conversions.example.com"
GOAL_PATH = "/api/v1/track/pixel/goal"

ASTRAL_PLAN = "\U0001f680" * 50  # 50 characters, 100 UTF-16 units: the limit counts characters
GOALS: list[tuple[str, dict[str, Any]]] = [
    # Each property alone, in pairs, all three, none.
    ("no-properties", {}),
    ("value-only", {"value": 25}),
    ("currency-only", {"currency": "USD"}),
    ("plan-only", {"plan": "pro"}),
    ("value-and-currency", {"value": 49.99, "currency": "EUR"}),
    ("value-and-plan", {"value": 12.5, "plan": "starter"}),
    ("currency-and-plan", {"currency": "GBP", "plan": "team"}),
    ("all-properties", {"value": 99, "currency": "USD", "plan": "pro"}),
    # Values at the bounds and where binary floats round.
    ("value-zero", {"value": 0, "currency": "USD"}),
    ("value-one-cent", {"value": 0.01, "currency": "USD"}),
    ("value-one-tenth", {"value": 0.1, "currency": "USD"}),
    ("value-float-trap", {"value": 1.15, "currency": "USD"}),
    ("value-seven-cents", {"value": 0.07, "currency": "USD"}),
    ("value-1234.56", {"value": 1234.56, "currency": "CAD"}),
    ("value-9999.99", {"value": 9999.99, "currency": "USD"}),
    ("value-10000", {"value": 10000, "currency": "GBP"}),
    ("currency-lower-case", {"value": 5, "currency": "eur"}),
    # session_id absent, empty, unusual.
    ("session-absent", {"session_id": None, "value": 10, "currency": "USD", "plan": "pro"}),
    ("session-empty", {"session_id": "", "value": 10, "currency": "USD", "plan": "pro"}),
    ("session-absent-no-properties", {"session_id": None}),
    ("session-128-characters", {"session_id": "s" * 128}),
    ("session-non-ascii", {"session_id": "sess_\u00e9t\u00e9"}),
    # First-touch fields present and absent.
    ("first-touch-both", {"value": 49, "currency": "USD", "first_touch_bucket": "ai_search",
                          "first_touch_ts": "2026-11-01T10:15:00Z"}),
    ("first-touch-bucket-only", {"value": 49, "currency": "USD",
                                 "first_touch_bucket": "ai_search"}),
    ("first-touch-ts-only", {"value": 49, "currency": "USD",
                             "first_touch_ts": "2026-11-01T10:15:00Z"}),
    ("first-touch-other-bucket", {"value": 19.99, "currency": "USD",
                                  "first_touch_bucket": "organic",
                                  "first_touch_ts": "2026-11-01T10:15:00Z"}),
    ("first-touch-ts-milliseconds", {"first_touch_bucket": "ai_search",
                                     "first_touch_ts": "2026-11-01T10:15:00.000Z"}),
    ("first-touch-ts-offset", {"first_touch_bucket": "ai_search",
                               "first_touch_ts": "2026-11-01T12:15:00+02:00"}),
    ("first-touch-ts-long-ago", {"value": 5, "currency": "USD", "first_touch_bucket": "ai_search",
                                 "first_touch_ts": "2020-01-01T00:00:00Z"}),
    ("first-touch-no-session", {"session_id": None, "value": 10000, "currency": "GBP",
                                "plan": "enterprise", "first_touch_bucket": "ai_search",
                                "first_touch_ts": "2026-11-01T10:15:00Z"}),
    ("first-touch-bucket-non-ascii", {"first_touch_bucket": "recherche_\u00e9"}),
    # Non-ASCII names and plans: the escaped and the raw renderings differ.
    ("name-latin", {"event_name": "achat_confirm\u00e9", "value": 49.9, "currency": "EUR"}),
    ("plan-latin", {"plan": "pr\u00e9mium", "value": 49.9, "currency": "EUR"}),
    ("plan-cjk", {"plan": "\u65e5\u672c\u8a9e\u30d7\u30e9\u30f3", "value": 5, "currency": "JPY"}),
    ("plan-emoji", {"plan": "rocket \U0001f680", "value": 7, "currency": "USD"}),
    ("name-emoji", {"event_name": "\U0001f389_signup"}),
    ("plan-arabic", {"plan": "\u062e\u0637\u0629 \u0630\u0647\u0628\u064a\u0629"}),
    ("plan-combining-accent", {"plan": "cafe\u0301"}),
    ("plan-line-separator", {"plan": "one\u2028two\u2029three"}),
    ("plan-no-break-space", {"plan": "gold\u00a0tier"}),
    ("plan-50-astral-characters", {"plan": ASTRAL_PLAN}),
    ("everything-non-ascii", {"event_name": "kauf_abgeschlossen_\u00fc",
                              "session_id": "sitzung_\u00df", "value": 12.34,
                              "currency": "EUR", "plan": "gr\u00fcn",
                              "first_touch_bucket": "ki_suche_\u00e4",
                              "first_touch_ts": "2026-11-01T10:15:00Z"}),
    # ASCII that JSON escapes, and DEL, which only the escaped rendering escapes.
    ("plan-quotes-and-backslash", {"plan": 'team "gold" \\ tier', "value": 1234.56,
                                   "currency": "CAD"}),
    ("plan-control-characters", {"plan": "tab\tnewline\ncr\rbell\x07"}),
    ("plan-delete-character", {"plan": "del\x7fete"}),
    ("plan-slash", {"plan": "a/b </script>"}),
    ("plan-empty", {"plan": ""}),
    ("plan-50-characters", {"plan": "x" * 50}),
    ("name-punctuation", {"event_name": "signup.completed:v2-beta_1"}),
]


def _derived(kind: str, name: str) -> bytes:
    return hashlib.sha256(f"conversions vector {kind}: {name}".encode()).digest()


def tenant_of(name: str) -> tuple[str, str]:
    """A case's tenant id (a UUID) and pixel secret (64 hex characters)."""
    return str(uuid.UUID(bytes=_derived("tenant", name)[:16], version=4)), \
        _derived("pixel", name).hex()


def goal_body(goal: dict[str, Any]) -> dict[str, Any]:
    """The body a client sends for the arguments ``goal``, in the order clients write it."""
    body: dict[str, Any] = {"event_name": goal["event_name"]}
    if goal.get("session_id") is not None:
        body["session_id"] = goal["session_id"]
    body["properties"] = {name: goal[name] for name in ("value", "currency", "plan")
                          if goal.get(name) is not None}
    for name in ("first_touch_bucket", "first_touch_ts"):
        if goal.get(name) is not None:
            body[name] = goal[name]
    return body


def compact(obj: Any, escape_non_ascii: bool) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=escape_non_ascii)


def equivalents(body: dict[str, Any]) -> list[str]:
    """Other bodies of the same goal, which the same signature must verify: spacing, key
    order, a value written as a float, a null or empty session_id for an absent one."""
    variants = [json.dumps(body), compact(dict(reversed(body.items())), True)]
    value = body["properties"].get("value")
    if isinstance(value, int):
        variants.append(compact({**body, "properties": {**body["properties"],
                                                        "value": float(value)}}, True))
    if "session_id" not in body:
        variants += [compact({**body, "session_id": None}, True),
                     compact({**body, "session_id": ""}, True)]
    return variants


def goal_case(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    tenant_id, secret = tenant_of(name)
    goal = {"event_name": "purchase", "session_id": "sess_1", **arguments}
    goal = {key: given for key, given in goal.items() if given is not None}
    body = goal_body(goal)
    renderings = canonical.renderings(canonical.parse_body(compact(body, True).encode()),
                                      tenant_id)
    if len(renderings) not in (1, 2) or not renderings[0].isascii():
        raise ValueError(f"{name}: the service renders it unexpectedly: {renderings}")
    case: dict[str, Any] = {"name": name, "tenant_id": tenant_id, "pixel_secret": secret,
                            "goal": goal, "renderings_differ": len(renderings) == 2}
    for side, rendering, escaped in (("escaped", renderings[0], True),
                                     ("raw", renderings[-1], False)):
        case[side] = {
            "canonical": rendering.decode(),
            "signature": hmac.new(bytes.fromhex(secret), rendering, hashlib.sha256).hexdigest(),
            "body": compact(body, escaped),
        }
    if name in ("all-properties", "value-10000", "session-absent", "plan-cjk"):
        case["equivalent_bodies"] = equivalents(body)
        for text in case["equivalent_bodies"]:
            if canonical.renderings(canonical.parse_body(text.encode()), tenant_id) != renderings:
                raise ValueError(f"{name}: {text} is not the same goal")
    return case


def webhook_secret(name: str) -> str:
    return "whsec_" + base64.b64encode(_derived("webhook", name)).decode()


WEBHOOKS: list[tuple[str, Any, int]] = [
    # (name, events as a client is given them, how many secrets sign)
    ("single-event", {"event_name": "purchase", "event_value": "19.99", "currency": "USD",
                      "event_ts": SENT_AT - 60, "event_id": "ord-1"}, 1),
    ("batch", [{"event_name": "purchase", "event_value": 49, "currency": "EUR",
                "event_ts": SENT_AT - 120, "event_id": f"ord-{n}"} for n in (2, 3, 4)], 1),
    ("rotation-two-secrets", {"event_name": "signup", "event_ts": SENT_AT - 30,
                              "event_id": "ord-5"}, 2),
    ("non-ascii-properties", {"event_name": "purchase", "event_value": "5.00",
                              "currency": "JPY", "event_ts": SENT_AT - 10, "event_id": "ord-6",
                              "properties": {"plan": "\u65e5\u672c\u8a9e \U0001f680"}}, 1),
]


def webhook_case(name: str, events: Any, secrets: int) -> dict[str, Any]:
    keys = [webhook_secret(f"{name} {n}") for n in range(secrets)]
    body = compact({"events": events} if isinstance(events, list) else events, False)
    msg_id = f"msg_{name}"
    moment = datetime.fromtimestamp(SENT_AT, UTC)
    signature = " ".join(Webhook(key).sign(msg_id, moment, body) for key in keys)
    return {"name": name, "webhook_secrets": keys, "events": events, "msg_id": msg_id,
            "timestamp": SENT_AT, "body": body, "webhook_signature": signature}


PIXELS: list[tuple[str, dict[str, Any]]] = [
    ("name-only", {"buyer_id": "buyer-1", "event_name": "signup"}),
    ("every-parameter", {"buyer_id": "buyer-1", "event_name": "purchase", "event_value": 49,
                         "currency": "USD", "event_ts": SENT_AT - 60, "event_id": "order 1001"}),
    ("decimal-text-and-iso-time", {"buyer_id": "buyer-1", "event_name": "purchase",
                                   "event_value": "12.50", "currency": "eur",
                                   "event_ts": "2026-11-24T20:00:00Z",
                                   "event_id": "a~b*c/d+e&f=g"}),
    ("non-ascii-event-id", {"buyer_id": "buyer-1", "event_name": "lead",
                            "event_id": "commande-\u00e9t\u00e9 \U0001f680"}),
]


def pixel_case(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"buyer_id": arguments["buyer_id"], "source_type": "pixel",
              "event_name": arguments["event_name"]}
    for key in ("event_value", "currency", "event_ts", "event_id"):
        if key in arguments:
            params[key] = str(arguments[key])
    query = urlencode(params, quote_via=quote_plus)
    return {"name": name, "base_url": PIXEL_BASE, "pixel": arguments,
            "url": f"{PIXEL_BASE}/api/conversions/pixel?{query}"}


def vectors() -> dict[str, Any]:
    return {
        "about": "Known answers for signing (docs/signing.md), written by "
                 "tests/vectors/make_vectors.py: do not edit by hand.",
        "sent_at": SENT_AT,
        "goals": [goal_case(name, arguments) for name, arguments in GOALS],
        "webhooks": [webhook_case(*case) for case in WEBHOOKS],
        "pixel_urls": [pixel_case(name, arguments) for name, arguments in PIXELS],
    }


def text() -> str:
    return json.dumps(vectors(), indent=1, ensure_ascii=False) + "\n"


def main(args: list[str]) -> int:
    if "--check" in args:
        same = OUTPUT.read_text(encoding="utf-8") == text()
        print(f"{OUTPUT.name} is {'up to date' if same else 'out of date: regenerate it'}")
        return 0 if same else 1
    OUTPUT.write_text(text(), encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(GOALS)} goals, {len(WEBHOOKS)} webhooks, {len(PIXELS)} pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
