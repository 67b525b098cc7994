// Standard Webhooks deliveries: POST /api/conversions/webhook, one event or a batch.
import { createHmac, randomUUID } from "node:crypto";

import { stringify } from "./canonical.js";
import { checkBaseUrl, formEncode } from "./transport.js";

export const WEBHOOK_PATH = "/api/conversions/webhook";
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The HMAC key: the bytes whose base64 follows `whsec_` in the webhook secret. */
export function webhookKey(webhookSecret) {
  const encoded = typeof webhookSecret === "string" ? webhookSecret.replace(/^whsec_/, "") : "";
  if (!encoded || !BASE64.test(encoded)) {
    throw new TypeError("webhookSecret must be the whsec_... text `tenant create` printed");
  }
  return Buffer.from(encoded, "base64");
}

/** The raw body: text or bytes as given, one event as its object, an array as a batch. */
export function webhookBody(events) {
  if (typeof events === "string") return Buffer.from(events, "utf8");
  if (events instanceof Uint8Array) return Buffer.from(events);
  const payload = Array.isArray(events) ? { events } : events;
  return Buffer.from(stringify(payload, { sortKeys: false, escapeNonAscii: false }), "utf8");
}

/** The `webhook-signature` value: one `v1,<base64>` entry per secret. */
export function webhookSignature(secrets, msgId, timestamp, body) {
  const content = Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`, "utf8"), body]);
  return secrets.map((secret) => "v1,"
    + createHmac("sha256", webhookKey(secret)).update(content).digest("base64")).join(" ");
}

/**
 * Sign a delivery with the tenant's webhook secret (`whsec_` + base64), or several (a
 * rotation: several `v1,` entries). `events`: one event (an object), a batch (an array, sent
 * as {"events": [...]}) or a body already serialised (a string or bytes, signed as given).
 * `msgId` defaults to a new random id: pass the same one to retry, so it is stored once.
 * `timestamp` (Unix seconds) defaults to now; the service refuses one more than 5 minutes off.
 * @returns {{body: Buffer, headers: object, msgId: string, timestamp: number}}
 */
export function signWebhook({ webhookSecret, events, msgId, timestamp }) {
  const secrets = Array.isArray(webhookSecret) ? webhookSecret : [webhookSecret];
  if (secrets.length === 0) throw new TypeError("at least one webhook secret is needed");
  const body = webhookBody(events);
  const id = msgId ?? `msg_${randomUUID().replaceAll("-", "")}`;
  const at = timestamp ?? Math.floor(Date.now() / 1000);
  const headers = {
    "Content-Type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(at),
    "webhook-signature": webhookSignature(secrets, id, at, body),
  };
  return { body, headers, msgId: id, timestamp: at };
}

/** Where a delivery for the tenant named by `buyerId` or `tenantId` is sent. */
export function webhookUrl(baseUrl, { buyerId, tenantId }) {
  if ((buyerId === undefined) === (tenantId === undefined)) {
    throw new TypeError("name the tenant with exactly one of buyerId and tenantId");
  }
  const query = buyerId !== undefined ? { buyer_id: buyerId } : { tenant_id: tenantId };
  return `${checkBaseUrl(baseUrl)}${WEBHOOK_PATH}?${formEncode(query)}`;
}

/**
 * Sign a delivery as `signWebhook` does and POST it for the tenant named by `buyerId` or
 * `tenantId`. Resolves to fetch's Response whatever its status.
 * @returns {Promise<Response>}
 */
export async function sendWebhook({ baseUrl, buyerId, tenantId, ...options }) {
  const url = webhookUrl(baseUrl, { buyerId, tenantId });
  const signed = signWebhook(options);
  return fetch(url, { method: "POST", headers: signed.headers, body: signed.body });
}
