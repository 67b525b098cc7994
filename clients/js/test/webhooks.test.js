// signWebhook: Standard Webhooks headers over the raw body, one event or a batch.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { sendWebhook, signWebhook } from "../index.js";

const SECRET = `whsec_${Buffer.alloc(32, "k").toString("base64")}`;
const OTHER = `whsec_${Buffer.alloc(32, "o").toString("base64")}`;

test("the headers sign the id, the timestamp and the body", () => {
  const signed = signWebhook({ webhookSecret: SECRET, events: { event_name: "purchase" },
    msgId: "msg_1", timestamp: 1700000000 });
  const mac = createHmac("sha256", Buffer.alloc(32, "k"))
    .update('msg_1.1700000000.{"event_name":"purchase"}').digest("base64");
  assert.equal(signed.headers["webhook-signature"], `v1,${mac}`);
  assert.equal(signed.headers["webhook-timestamp"], "1700000000");
});

test("an array is sent as a batch", () => {
  const signed = signWebhook({ webhookSecret: SECRET, events: [{ event_id: "a" }] });
  assert.deepEqual(JSON.parse(signed.body), { events: [{ event_id: "a" }] });
});

test("two secrets give two entries, one for each", () => {
  const at = { events: "{}", msgId: "m", timestamp: 1 };
  const both = signWebhook({ webhookSecret: [SECRET, OTHER], ...at });
  const one = signWebhook({ webhookSecret: SECRET, ...at });
  const two = signWebhook({ webhookSecret: OTHER, ...at });
  assert.equal(both.headers["webhook-signature"],
    `${one.headers["webhook-signature"]} ${two.headers["webhook-signature"]}`);
});

test("the id and the timestamp default to a new id and now, at each call", () => {
  const one = signWebhook({ webhookSecret: SECRET, events: "{}" });
  const two = signWebhook({ webhookSecret: SECRET, events: "{}" });
  assert.notEqual(one.msgId, two.msgId);
  assert.match(one.msgId, /^msg_[0-9a-f]{32}$/);
  assert.ok(one.timestamp > 1700000000);
});

test("a secret without its prefix is the same key", () => {
  const at = { events: "{}", msgId: "m", timestamp: 1 };
  assert.deepEqual(signWebhook({ webhookSecret: SECRET.slice(6), ...at }).headers,
    signWebhook({ webhookSecret: SECRET, ...at }).headers);
});

test("a secret that is not base64 is refused", () => {
  for (const webhookSecret of ["whsec_not base64!", "whsec_", "e9".repeat(31) + "e", undefined]) {
    assert.throws(() => signWebhook({ webhookSecret, events: "{}" }), /whsec_/);
  }
});

test("the tenant is named exactly once", async () => {
  for (const names of [{}, { buyerId: "b", tenantId: "t" }]) {
    await assert.rejects(sendWebhook({ baseUrl: "http://127.0.0.1:1", webhookSecret: SECRET,
      events: {}, ...names }), /exactly one/);
  }
});
