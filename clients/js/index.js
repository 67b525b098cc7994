// Client for the conversions service (Node 18+, node:crypto, no dependencies): signed goals,
// Standard Webhooks deliveries and pixel URLs. The signing rules are in docs/signing.md.
//
//   import { sendGoal } from "./clients/js/index.js";
//   const answer = await sendGoal({ baseUrl: "http://127.0.0.1:8000", domain: "shop.example.com",
//     tenantId, pixelSecret, eventName: "purchase", sessionId: "sess_1", value: 12.5,
//     currency: "USD" });
//   answer.status, await answer.json();   // 202 {"duplicate": false, "event_id": "1"}
export { canonicalGoal } from "./lib/canonical.js";
export { sendGoal, signGoal } from "./lib/goals.js";
export { pixelUrl } from "./lib/pixel.js";
export { sendWebhook, signWebhook } from "./lib/webhooks.js";
