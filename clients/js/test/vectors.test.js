// The client reproduces every known answer of tests/vectors/signing.json byte for byte.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { canonicalGoal, pixelUrl, signGoal, signWebhook } from "../index.js";

const VECTORS = JSON.parse(readFileSync(
  new URL("../../../tests/vectors/signing.json", import.meta.url), "utf8"));

/** sign_goal's arguments, as signGoal's options. */
function goalOptions(goal) {
  return {
    eventName: goal.event_name, sessionId: goal.session_id, value: goal.value,
    currency: goal.currency, plan: goal.plan, firstTouchBucket: goal.first_touch_bucket,
    firstTouchTs: goal.first_touch_ts,
  };
}

test("there are goal vectors to check", () => {
  assert.ok(VECTORS.goals.length >= 40);
});

for (const c of VECTORS.goals) {
  for (const side of ["escaped", "raw"]) {
    test(`goal ${c.name} (${side})`, () => {
      const signed = signGoal({
        tenantId: c.tenant_id, pixelSecret: c.pixel_secret, escapeNonAscii: side === "escaped",
        ...goalOptions(c.goal),
      });
      assert.deepEqual(signed.canonical, Buffer.from(c[side].canonical, "utf8"));
      assert.equal(signed.signature, c[side].signature);
      assert.equal(signed.body, c[side].body);
    });
  }
  test(`goal ${c.name}: every equivalent body has the same canonical`, () => {
    for (const text of [c.escaped.body, c.raw.body, ...(c.equivalent_bodies ?? [])]) {
      assert.deepEqual(canonicalGoal(JSON.parse(text), c.tenant_id),
        Buffer.from(c.escaped.canonical, "utf8"));
    }
  });
}

for (const c of VECTORS.webhooks) {
  test(`webhook ${c.name}`, () => {
    const webhookSecret = c.webhook_secrets.length > 1 ? c.webhook_secrets : c.webhook_secrets[0];
    for (const events of [c.events, c.body, Buffer.from(c.body, "utf8")]) {
      const signed = signWebhook({ webhookSecret, events, msgId: c.msg_id, timestamp: c.timestamp });
      assert.deepEqual(signed.body, Buffer.from(c.body, "utf8"));
      assert.deepEqual(signed.headers, {
        "Content-Type": "application/json", "webhook-id": c.msg_id,
        "webhook-timestamp": String(c.timestamp), "webhook-signature": c.webhook_signature,
      });
    }
  });
}

for (const c of VECTORS.pixel_urls) {
  test(`pixel ${c.name}`, () => {
    const p = c.pixel;
    assert.equal(pixelUrl({
      baseUrl: c.base_url, buyerId: p.buyer_id, eventName: p.event_name,
      eventValue: p.event_value, currency: p.currency, eventTs: p.event_ts, eventId: p.event_id,
    }), c.url);
  });
}
