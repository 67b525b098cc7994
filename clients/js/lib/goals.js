// Signed goals: POST /api/v1/track/pixel/goal?domain=... with X-LP-Goal-Signature.
import { createHmac } from "node:crypto";

import { canonicalGoal, stringify } from "./canonical.js";
import { checkBaseUrl, formEncode } from "./transport.js";

export const GOAL_PATH = "/api/v1/track/pixel/goal";
export const SIGNATURE_HEADER = "X-LP-Goal-Signature";

/** The HMAC key: the 32 bytes the 64 hex characters of the pixel secret stand for. */
export function pixelKey(pixelSecret) {
  if (typeof pixelSecret !== "string" || !/^[0-9a-fA-F]{64}$/.test(pixelSecret)) {
    throw new TypeError("pixelSecret must be the 64 hex characters `tenant create` printed");
  }
  return Buffer.from(pixelSecret, "hex");
}

/** The JSON object a goal sends; options left undefined (or null) are left out. */
export function goalBody({ eventName, sessionId, value, currency, plan, firstTouchBucket,
  firstTouchTs }) {
  if (value !== undefined && value !== null
      && (typeof value !== "number" || !Number.isFinite(value))) {
    throw new TypeError("value must be a finite number");
  }
  const properties = {};
  for (const [name, given] of [["value", value], ["currency", currency], ["plan", plan]]) {
    if (given !== undefined && given !== null) properties[name] = given;
  }
  const body = { event_name: eventName };
  if (sessionId !== undefined && sessionId !== null) body.session_id = sessionId;
  body.properties = properties;
  if (firstTouchBucket !== undefined && firstTouchBucket !== null) {
    body.first_touch_bucket = firstTouchBucket;
  }
  if (firstTouchTs !== undefined && firstTouchTs !== null) body.first_touch_ts = firstTouchTs;
  return body;
}

/**
 * Sign a goal of tenant `tenantId` with its `pixelSecret` (64 hex characters).
 * `value` is a number (0 to 10000, at most two decimals), `currency` an ISO 4217 code, `plan`
 * at most 50 characters; `firstTouchTs` is ISO-8601 text, signed as given.
 * `escapeNonAscii: false` signs and sends non-ASCII as raw UTF-8 instead of \u escapes.
 * @returns {{body: string, signature: string, canonical: Buffer, headers: object}}
 */
export function signGoal({ tenantId, pixelSecret, escapeNonAscii = true, ...event }) {
  const key = pixelKey(pixelSecret);
  const body = goalBody(event);
  const canonical = canonicalGoal(body, tenantId, { escapeNonAscii });
  const signature = createHmac("sha256", key).update(canonical).digest("hex");
  return {
    body: stringify(body, { sortKeys: false, escapeNonAscii }),
    signature,
    canonical,
    headers: { "Content-Type": "application/json", [SIGNATURE_HEADER]: signature },
  };
}

/** Where a goal of the tenant registered for `domain` is sent. */
export function goalUrl(baseUrl, domain) {
  return `${checkBaseUrl(baseUrl)}${GOAL_PATH}?${formEncode({ domain })}`;
}

/**
 * Sign a goal as `signGoal` does and POST it to the service at `baseUrl` for `domain`.
 * Resolves to fetch's Response whatever its status: 202 stored, 200 a duplicate, 4xx a
 * refusal whose JSON `error` says why (docs/signing.md).
 * @returns {Promise<Response>}
 */
export async function sendGoal({ baseUrl, domain, ...options }) {
  const signed = signGoal(options);
  return fetch(goalUrl(baseUrl, domain), {
    method: "POST", headers: signed.headers, body: signed.body,
  });
}
