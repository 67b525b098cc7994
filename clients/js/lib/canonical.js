// The canonical form of a goal: the exact bytes its signature covers (docs/signing.md).
//
// JSON.stringify cannot be used as is: it does not sort keys, never escapes non-ASCII and
// escapes a lone surrogate, while the service writes the escaped form the way Python's
// json.dumps does (every character outside space..~ as a lowercase \u escape, astral ones
// as a surrogate pair) and sorts keys by code point. This module writes both forms itself.

const SHORT_ESCAPES = {
  '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
};
const FIRST_TOUCH_FIELDS = ["first_touch_bucket", "first_touch_ts"];
const PLAIN_DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

function unicodeEscape(unit) {
  return "\\u" + unit.toString(16).padStart(4, "0");
}

/** A JSON string literal; non-ASCII escaped (as \u00e9) or written raw. */
export function quote(text, escapeNonAscii) {
  let out = '"';
  for (const char of text) { // by code point; a lone surrogate comes alone
    const code = char.codePointAt(0);
    if (SHORT_ESCAPES[char] !== undefined) {
      out += SHORT_ESCAPES[char];
    } else if (code < 0x20) {
      out += unicodeEscape(code);
    } else if (code >= 0xd800 && code <= 0xdfff && !escapeNonAscii) {
      throw new RangeError(
        "text with a lone surrogate cannot be sent as raw UTF-8; use escapeNonAscii: true");
    } else if (escapeNonAscii && code > 0x7e) {
      for (let i = 0; i < char.length; i += 1) out += unicodeEscape(char.charCodeAt(i));
    } else {
      out += char;
    }
  }
  return out + '"';
}

function byCodePoint(a, b) {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const diff = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (diff !== 0) return diff;
  }
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Compact JSON text; keys sorted by code point when `sortKeys`. */
export function stringify(value, { sortKeys, escapeNonAscii }) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError("numbers must be finite");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return quote(value, escapeNonAscii);
  if (Array.isArray(value)) {
    return "[" + value.map((item) => stringify(item, { sortKeys, escapeNonAscii })).join(",") + "]";
  }
  const keys = Object.keys(value).filter((key) => value[key] !== undefined);
  if (sortKeys) keys.sort(byCodePoint);
  return "{" + keys.map((key) => quote(key, escapeNonAscii) + ":"
    + stringify(value[key], { sortKeys, escapeNonAscii })).join(",") + "}";
}

/** Whether a field counts as sent: absent, null, false, 0, "", [] and {} do not. */
function isGiven(value) {
  if (value === undefined || value === null || value === false || value === "") return false;
  if (typeof value === "number") return value !== 0 && !Number.isNaN(value);
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

/**
 * `properties.value` as it is signed: the number as text with two decimals (99 -> "99.00").
 * Anything that is not a number is signed as it is (the service refuses it afterwards).
 */
export function twoDecimals(value) {
  let number = value;
  if (typeof value === "boolean") number = Number(value);
  else if (typeof value === "string" && PLAIN_DECIMAL.test(value)) number = Number(value);
  if (typeof number !== "number") return value;
  if (!Number.isFinite(number)) throw new RangeError("value must be a finite number");
  if (Math.abs(number) >= 1e21) { // toFixed switches to exponents there; an integer anyway
    return (number < 0 ? "-" : "") + BigInt(Math.abs(number)).toString() + ".00";
  }
  return number.toFixed(2);
}

/** The object that is serialised and signed for a goal `body` of tenant `tenantId`. */
export function signedPayload(body, tenantId) {
  let properties = body.properties;
  if (isObject(properties)) {
    properties = { ...properties };
    if (properties.value !== undefined && properties.value !== null) {
      properties.value = twoDecimals(properties.value);
    }
  } else if (!isGiven(properties)) {
    properties = {};
  }
  const payload = {
    event_name: body.event_name === undefined ? null : body.event_name,
    properties,
    session_id: isGiven(body.session_id) ? body.session_id : "",
    tenant_id: tenantId,
  };
  for (const name of FIRST_TOUCH_FIELDS) {
    if (isGiven(body[name])) payload[name] = body[name];
  }
  return payload;
}

/**
 * The bytes to sign for a goal `body` (the JSON object that is sent): keys sorted at every
 * level, no spaces, `properties.value` as a two-decimal string, `session_id` "" when absent,
 * `tenant_id` added, first-touch fields only when non-empty. `escapeNonAscii` (default true)
 * writes non-ASCII as \u escapes, else as raw UTF-8; the service accepts either.
 * @returns {Buffer}
 */
export function canonicalGoal(body, tenantId, { escapeNonAscii = true } = {}) {
  const text = stringify(signedPayload(body, tenantId), { sortKeys: true, escapeNonAscii });
  return Buffer.from(text, "utf8");
}
