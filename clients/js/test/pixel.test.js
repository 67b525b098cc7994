// pixelUrl: the browser pixel's query, encoded as forms are.
import assert from "node:assert/strict";
import { test } from "node:test";

import { pixelUrl } from "../index.js";

const BASE = "https://conversions.example.com/";

test("only the given parameters are sent", () => {
  assert.equal(pixelUrl({ baseUrl: BASE, buyerId: "1234", eventName: "signup" }),
    "https://conversions.example.com/api/conversions/pixel"
    + "?buyer_id=1234&source_type=pixel&event_name=signup");
});

test("values are written as given", () => {
  for (const [eventValue, text] of [[49, "49"], [12.5, "12.5"], ["49.00", "49.00"]]) {
    assert.ok(pixelUrl({ baseUrl: BASE, buyerId: "b", eventName: "p", eventValue, currency: "USD" })
      .includes(`&event_value=${text}&`));
  }
});

test("a Date is written in ISO-8601", () => {
  assert.ok(pixelUrl({ baseUrl: BASE, buyerId: "b", eventName: "p",
    eventTs: new Date(Date.UTC(2026, 10, 24, 20)) }).endsWith("&event_ts=2026-11-24T20%3A00%3A00.000Z"));
});

test("a value that is not finite is refused", () => {
  assert.throws(() => pixelUrl({ baseUrl: BASE, buyerId: "b", eventName: "p", eventValue: Infinity }),
    /finite/);
});
