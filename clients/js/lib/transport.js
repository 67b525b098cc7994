// What every request shares: the service's base URL and the query encoding.

/** `baseUrl` without a trailing slash; refuses anything but http(s). */
export function checkBaseUrl(baseUrl) {
  let scheme = "";
  try {
    scheme = new URL(baseUrl).protocol;
  } catch {
    // reported below
  }
  if (scheme !== "http:" && scheme !== "https:") {
    throw new TypeError(`baseUrl must be an http:// or https:// URL, not ${JSON.stringify(baseUrl)}`);
  }
  return baseUrl.replace(/\/+$/, "");
}

/**
 * application/x-www-form-urlencoded, byte for byte as Python's urlencode writes it: letters,
 * digits and "-_.~" as they are, spaces as "+", everything else percent-encoded.
 */
export function formEncode(params) {
  const encode = (text) => encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");
  return Object.entries(params).map(([name, value]) => `${encode(name)}=${encode(value)}`)
    .join("&");
}
