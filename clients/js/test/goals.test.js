// signGoal and canonicalGoal: the rules of docs/signing.md, one test each.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { canonicalGoal, sendGoal, signGoal } from "../index.js";

const TENANT = "4e56962b-dbaa-4370-a204-c648b083073b";
const SECRET = "e9".repeat(32);
const sign = (options) => signGoal({ tenantId: TENANT, pixelSecret: SECRET, eventName: "purchase",
  ...options });

test("the signature is HMAC-SHA256 of the canonical, keyed by the secret's bytes", () => {
  const signed = sign({ sessionId: "sess_1", value: 12.5, currency: "USD" });
  assert.equal(signed.canonical.toString(), '{"event_name":"purchase","properties":'
    + `{"currency":"USD","value":"12.50"},"session_id":"sess_1","tenant_id":"${TENANT}"}`);
  assert.equal(signed.signature, createHmac("sha256", Buffer.from(SECRET, "hex"))
    .update(signed.canonical).digest("hex"));
  assert.deepEqual(signed.headers, { "Content-Type": "application/json",
    "X-LP-Goal-Signature": signed.signature });
});

test("a value of zero is signed, not dropped", () => {
  assert.match(sign({ value: 0 }).canonical.toString(), /"value":"0.00"/);
});

test("an absent session_id is left out of the body and signed as empty", () => {
  const signed = sign({});
  assert.equal("session_id" in JSON.parse(signed.body), false);
  assert.deepEqual(signed.canonical, sign({ sessionId: "" }).canonical);
});

test("a secret that is not 64 hex characters is refused", () => {
  for (const pixelSecret of ["e9".repeat(31), "zz".repeat(32), `whsec_${"A".repeat(44)}`]) {
    assert.throws(() => sign({ pixelSecret }), /64 hex characters/);
  }
});

test("a value that is not a finite number is refused", () => {
  for (const value of [NaN, Infinity, "12.50"]) {
    assert.throws(() => sign({ value }), /finite number/);
  }
});

test("non-ASCII is escaped by default, as Python escapes it, and raw on request", () => {
  const plan = "pr\u00e9mium \u{1f680}";
  const escaped = sign({ plan });
  const raw = sign({ plan, escapeNonAscii: false });
  assert.ok(escaped.canonical.includes('"plan":"pr\\u00e9mium \\ud83d\\ude80"'));
  assert.ok(raw.canonical.includes(Buffer.from(`"plan":"${plan}"`, "utf8")));
  assert.match(escaped.body, /^[\x20-\x7e]*$/);
  assert.deepEqual(JSON.parse(escaped.body), JSON.parse(raw.body));
});

test("DEL is escaped only in the escaped form, as the service writes it", () => {
  assert.ok(sign({ plan: "a\x7fb" }).canonical.includes('"a\\u007fb"'));
  assert.ok(sign({ plan: "a\x7fb", escapeNonAscii: false }).canonical.includes('"a\x7fb"'));
});

test("a lone surrogate can be signed escaped but not raw", () => {
  assert.ok(sign({ plan: "\ud800" }).canonical.includes("\\ud800"));
  assert.throws(() => sign({ plan: "\ud800", escapeNonAscii: false }), /lone surrogate/);
});

test("keys are sorted by code point, not by UTF-16 unit", () => {
  const text = canonicalGoal({ event_name: "p", properties: { "\u{10000}": 1, "\uffff": 2 } },
    TENANT).toString();
  assert.ok(text.includes('{"\\uffff":2,"\\ud800\\udc00":1}'));
});

test("canonical of any body follows the same rules as the service", () => {
  const cases = [
    [{ event_name: "p", properties: { value: "12" } }, '"properties":{"value":"12.00"}'],
    [{ event_name: "p", properties: { value: "ten" } }, '"properties":{"value":"ten"}'],
    [{ event_name: "p", properties: { value: true } }, '"properties":{"value":"1.00"}'],
    [{ event_name: "p", properties: { value: 1e21 } },
      '"properties":{"value":"1000000000000000000000.00"}'],
    [{ event_name: "p", properties: [1] }, '"properties":[1]'],
    [{ event_name: "p" }, '"properties":{}'],
    [{ event_name: "p", properties: { z: 1, a: { y: 2, b: 3 } } },
      '"properties":{"a":{"b":3,"y":2},"z":1}'],
    [{ event_name: "p", first_touch_bucket: "", first_touch_ts: null },
      '"properties":{},"session_id":"",'],
    [{ event_name: "p", session_id: [] }, '"session_id":""'],
  ];
  for (const [body, expected] of cases) {
    assert.ok(canonicalGoal(body, TENANT).toString().includes(expected), expected);
  }
});

test("sendGoal refuses a base URL that is not http", async () => {
  await assert.rejects(sendGoal({ baseUrl: "file:///etc/passwd", domain: "d", tenantId: TENANT,
    pixelSecret: SECRET, eventName: "purchase" }), /http/);
});
