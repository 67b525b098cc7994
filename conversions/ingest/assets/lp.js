/* lp.js: first-touch classification and best-effort conversion hints.
   Keeps everything in memory for this page load: no cookie, no localStorage, no sessionStorage. */
(function (window, document) {
  "use strict";
  if (window.lp) return;

  // Injected by the server from conversions/assets/first_touch_sources.json.
  var SOURCES = /*SOURCES*/{};
  var BUCKETS = ["ai_search", "search", "social"];
  var PIXEL_PATH = "/api/conversions/pixel";
  var tag = document.currentScript;
  var config = {
    buyerId: (tag && tag.getAttribute("data-buyer-id")) || null,
    endpoint: resolve(PIXEL_PATH, tag && tag.src)
  };
  var pending = [];

  function resolve(path, base) {
    try {
      return new URL(path, base || window.location.href).href;
    } catch (e) {
      return path;
    }
  }

  function hostOf(url) {
    try {
      return new URL(url).hostname.toLowerCase().replace(/\.$/, "");
    } catch (e) {
      return "";
    }
  }

  function bare(host) {
    return host.replace(/^www\./, "");
  }

  // "chatgpt.com" matches itself and its subdomains; "google.*" matches google under any suffix.
  function matches(host, pattern) {
    if (pattern.slice(-2) === ".*") {
      var name = pattern.slice(0, -1);
      return host.indexOf(name) === 0 || host.indexOf("." + name) >= 0;
    }
    return host === pattern || host.slice(-pattern.length - 1) === "." + pattern;
  }

  function find(buckets, test) {
    for (var b = 0; b < buckets.length; b++) {
      var list = SOURCES[buckets[b]] || [];
      for (var s = 0; s < list.length; s++) {
        if (test(list[s])) return { bucket: buckets[b], engine: list[s].engine };
      }
    }
    return null;
  }

  function byHost(host) {
    return function (source) {
      return source.hosts.some(function (p) { return matches(host, p); });
    };
  }

  function byUtm(utm) {
    return function (source) {
      return (source.utm_sources || []).indexOf(utm) >= 0 || byHost(utm)(source);
    };
  }

  // An AI engine named by the referrer or by utm_source wins; then the referrer; then
  // utm_source; an unlisted referrer or campaign is "referral"; nothing (or a same-site
  // referrer) is "direct".
  function classify() {
    var utm = (new URLSearchParams(window.location.search).get("utm_source") || "")
      .trim().toLowerCase();
    var host = hostOf(document.referrer);
    if (host && bare(host) === bare(window.location.hostname.toLowerCase())) host = "";
    var ai = BUCKETS.slice(0, 1);
    var found = (host && find(ai, byHost(host))) || (utm && find(ai, byUtm(utm))) ||
      (host && find(BUCKETS, byHost(host))) || (utm && find(BUCKETS, byUtm(utm)));
    if (found) return found;
    return { bucket: host || utm ? "referral" : "direct", engine: null };
  }

  var touch = classify();
  touch.ts = new Date().toISOString();

  function firstTouch() {
    return { bucket: touch.bucket, engine: touch.engine, ts: touch.ts };
  }

  function init(options) {
    options = options || {};
    if (options.buyerId) config.buyerId = String(options.buyerId);
    if (options.endpoint) config.endpoint = resolve(options.endpoint);
    return window.lp;
  }

  // An unsigned hint: it never counts for revenue attribution. Returns whether it was sent.
  function track(eventName, props) {
    props = props || {};
    if (!config.buyerId || !eventName) return false;
    var fields = new URLSearchParams({
      buyer_id: config.buyerId,
      source_type: "pixel",
      event_name: String(eventName),
      event_ts: new Date().toISOString()
    });
    if (props.value != null) fields.set("event_value", String(props.value));
    if (props.currency) fields.set("currency", String(props.currency));
    if (props.event_id) fields.set("event_id", String(props.event_id));
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(config.endpoint, fields)) return true;
    } catch (e) { /* fall back to an image */ }
    var image = new Image(1, 1);
    image.onload = image.onerror = function () { pending.splice(pending.indexOf(image), 1); };
    pending.push(image);
    image.src = config.endpoint + (config.endpoint.indexOf("?") < 0 ? "?" : "&") + fields;
    return true;
  }

  window.lp = { firstTouch: firstTouch, track: track, init: init };
})(window, document);
