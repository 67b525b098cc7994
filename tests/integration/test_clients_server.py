"""The project's clients (clients/python, clients/js) as outside senders, against a real
gunicorn: goals escaped and raw, webhooks one event and a batch, and pixel URLs."""
from __future__ import annotations

import json
import uuid

import pytest
from conversions_client import pixel_url, send_goal, send_webhook

from tests.support import Server, http, run_node, served_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn (2 workers) on its own database with one tenant, as ``tenant create`` made it."""
    tmp = tmp_path_factory.mktemp("clients-server")
    url, (shop,) = served_database(tmp, ("shop.example.com", "buyer-shop"))
    with Server({"DATABASE_URL": url}, log_path=tmp / "gunicorn.log") as server:
        yield server, shop


def event(name: str, **fields) -> dict:
    """A valid webhook event, occurred a minute ago (the server's clock is the real one)."""
    import time

    return {"event_name": "purchase", "event_value": "19.99", "currency": "USD",
            "event_ts": int(time.time()) - 60, "event_id": f"{name}-{uuid.uuid4()}", **fields}


@pytest.mark.parametrize("escape_non_ascii", [True, False], ids=["escaped", "raw"])
def test_python_client_sends_a_goal(served, escape_non_ascii):
    server, shop = served
    session = f"py-{uuid.uuid4()}-\u00e9"
    answers = [send_goal(server.url, "shop.example.com", shop["tenant_id"], shop["pixel_secret"],
                         "achat_confirm\u00e9", session, value=42.5,
                         currency="USD", plan="pr\u00e9mium \U0001f680",
                         first_touch_bucket="ai_search", first_touch_ts="2026-11-20T08:00:00Z",
                         escape_non_ascii=escape_non_ascii) for _ in range(2)]
    assert [answer.status for answer in answers] == [202, 200], answers[0].body
    assert answers[1].json() == {"event_id": answers[0].json()["event_id"], "duplicate": True}


def test_python_client_sends_webhooks_and_a_retry_is_a_duplicate(served):
    server, shop = served
    one = send_webhook(server.url, shop["webhook_secret"], event("py-one"),
                       buyer_id="buyer-shop")
    assert (one.status, one.json()["accepted"]) == (202, 1), one.body
    batch = [event("py-batch", properties={"plan": "\u65e5\u672c\u8a9e"}) for _ in range(3)]
    msg_id = f"msg_{uuid.uuid4().hex}"
    first, retry = (send_webhook(server.url, shop["webhook_secret"], batch,
                                 tenant_id=shop["tenant_id"], msg_id=msg_id) for _ in range(2))
    assert (first.status, first.json()["accepted"]) == (202, 3), first.body
    assert (retry.status, retry.json()["duplicate"]) == (200, True)
    wrong = send_webhook(server.url, "whsec_" + "A" * 43 + "=", event("py-wrong"),
                         buyer_id="buyer-shop")
    assert (wrong.status, wrong.error) == (401, "invalid_signature")


def test_python_client_pixel_url_is_accepted(served):
    server, _ = served
    url = pixel_url(server.url, "buyer-shop", "purchase", event_value=49, currency="usd",
                    event_id=f"order {uuid.uuid4()}")
    status, _, body = http("GET", url, headers={"Accept": "application/json"})
    assert (status, json.loads(body)["duplicate"]) == (202, False)


NODE_SENDER = """
import { pixelUrl, sendGoal, sendWebhook } from "./clients/js/index.js";
const [baseUrl, shop, events] = [process.argv[2], JSON.parse(process.argv[3]),
  JSON.parse(process.argv[4])];
const answers = [];
const record = async (answer) => answers.push([answer.status, await answer.json()]);
for (const escapeNonAscii of [true, false]) {
  await record(await sendGoal({ baseUrl, domain: shop.domain, tenantId: shop.tenant_id,
    pixelSecret: shop.pixel_secret, eventName: "achat_confirm\\u00e9",
    sessionId: events[0].event_id, value: 9999.99, currency: "EUR",
    plan: "\\u65e5\\u672c\\u8a9e \\u{1f680}",
    firstTouchBucket: "ai_search", firstTouchTs: "2026-11-20T08:00:00Z", escapeNonAscii }));
}
await record(await sendWebhook({ baseUrl, webhookSecret: shop.webhook_secret,
  buyerId: shop.buyer_id, events: events[0] }));
await record(await sendWebhook({ baseUrl, webhookSecret: shop.webhook_secret,
  tenantId: shop.tenant_id, events: events.slice(1) }));
await record(await fetch(pixelUrl({ baseUrl, buyerId: shop.buyer_id, eventName: "lead",
  eventId: events[0].event_id }), { headers: { Accept: "application/json" } }));
console.log(JSON.stringify(answers));
"""


def test_js_client_sends_goals_webhooks_and_pixels(served):
    server, shop = served
    events = [event("js", properties={"plan": "\u00e9t\u00e9"}) for _ in range(3)]
    answers = json.loads(run_node(NODE_SENDER, server.url, json.dumps(shop), json.dumps(events)))
    statuses = [status for status, _ in answers]
    # The goal sent escaped then raw is one event: the second is a duplicate.
    assert statuses == [202, 200, 202, 202, 202], answers
    assert answers[1][1] == {"event_id": answers[0][1]["event_id"], "duplicate": True}
    assert [answers[2][1]["accepted"], answers[3][1]["accepted"]] == [1, 2]
