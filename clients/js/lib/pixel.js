// The browser pixel: GET /api/conversions/pixel URLs (unsigned; never hold a secret).
import { checkBaseUrl, formEncode } from "./transport.js";

export const PIXEL_PATH = "/api/conversions/pixel";

function valueText(value) {
  if (typeof value === "string") return value;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError("eventValue must be a finite number or decimal text");
  }
  return JSON.stringify(value);
}

function timeText(moment) {
  return moment instanceof Date ? moment.toISOString() : String(moment);
}

/**
 * The pixel URL of one browser event, for an <img src> or sendBeacon. `eventValue` (0 to
 * 10000, at most two decimals) needs `currency`; `eventTs` (Unix seconds, ISO-8601 text or a
 * Date) defaults to when the service receives it; `eventId` makes a repeat count once.
 */
export function pixelUrl({ baseUrl, buyerId, eventName, eventValue, currency, eventTs,
  eventId }) {
  const params = { buyer_id: buyerId, source_type: "pixel", event_name: eventName };
  if (eventValue !== undefined && eventValue !== null) params.event_value = valueText(eventValue);
  if (currency !== undefined && currency !== null) params.currency = currency;
  if (eventTs !== undefined && eventTs !== null) params.event_ts = timeText(eventTs);
  if (eventId !== undefined && eventId !== null) params.event_id = eventId;
  return `${checkBaseUrl(baseUrl)}${PIXEL_PATH}?${formEncode(params)}`;
}
