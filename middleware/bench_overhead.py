"""What the middleware costs, in process: ``python middleware/bench_overhead.py [--rounds N]``.

1. Its own overhead per request: the same WSGI request to a bare app and to the app wrapped
   in ``HmacMiddleware``, on a path it passes through and on signed routes (the signature
   checked each time); building the environ is timed apart and taken off.
2. Its Standard Webhooks check against the reference library's (``standardwebhooks``, pip
   install it) ``Webhook.verify`` on the same signed messages.

Each figure is the best of several rounds, in microseconds a request.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import time
import timeit
from collections.abc import Callable

from standardwebhooks.webhooks import Webhook

from wsgi_hmac import HeaderHmacScheme, HmacMiddleware, Key, Keyring, Route, StandardWebhookScheme

SECRET = bytes(range(32))
KEYRING = Keyring("acme", [Key("k1", SECRET)])
BODY = json.dumps({"event": "purchase", "value": 12.5, "currency": "USD",
                   "items": [{"sku": f"sku-{n}", "quantity": n} for n in range(8)]}).encode()


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def start_response(status, headers):
    return None


def webhook_headers(now: float, message: str = "msg_1") -> dict[str, str]:
    mac = hmac.new(SECRET, f"{message}.{int(now)}.".encode() + BODY, hashlib.sha256).digest()
    return {"webhook-id": message, "webhook-timestamp": str(int(now)),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def environ_for(path: str, headers: dict[str, str]) -> Callable[[], dict]:
    """A maker of a fresh environ for one POST of ``BODY`` (the app reads its input)."""
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "CONTENT_LENGTH": str(len(BODY)), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}}

    def make() -> dict:
        return {**base, "wsgi.input": io.BytesIO(BODY)}

    return make


def best(call: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Microseconds a call, the best of ``repeat`` rounds of ``number`` calls."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def overhead(number: int) -> list[tuple[str, float, float]]:
    now = time.time()
    wrapped = HmacMiddleware(app, [
        Route("/hooks/in", HeaderHmacScheme("X-Signature"), lambda environ, fresh: KEYRING),
        Route("/hooks/webhook", StandardWebhookScheme(), lambda environ, fresh: KEYRING),
    ])
    signature = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    cases = {
        "passed through (unsigned path)": environ_for("/other", {}),
        "header scheme, verified": environ_for("/hooks/in", {"X-Signature": signature}),
        "Standard Webhooks, verified": environ_for("/hooks/webhook", webhook_headers(now)),
    }
    rows = []
    for name, make in cases.items():
        building = best(make, number)
        bare = best(lambda make=make: app(make(), start_response), number) - building
        through = best(lambda make=make: wrapped(make(), start_response), number) - building
        rows.append((name, bare, through))
    return rows


def verification(number: int) -> tuple[float, float]:
    """Microseconds a Standard Webhooks check: this middleware's scheme, the reference's."""
    now = time.time()
    headers = webhook_headers(now)
    environ = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    scheme = StandardWebhookScheme()
    reference = Webhook("whsec_" + base64.b64encode(SECRET).decode())
    assert scheme.verify(environ, BODY, KEYRING, now).key_id == "k1"
    reference.verify(BODY, headers, json_parse=False)  # raises if it does not verify
    ours = best(lambda: scheme.verify(environ, BODY, KEYRING, time.time()), number)
    theirs = best(lambda: reference.verify(BODY, headers, json_parse=False), number)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000, help="requests a timed round")
    number = parser.parse_args().rounds
    print(f"body: {len(BODY)} bytes; best of 5 rounds of {number}; microseconds a request")
    print(f"{'request':34} {'bare app':>9} {'wrapped':>9} {'overhead':>9}")
    for name, bare, through in overhead(number):
        print(f"{name:34} {bare:9.2f} {through:9.2f} {through - bare:9.2f}")
    ours, theirs = verification(number)
    print(f"Standard Webhooks verification: wsgi_hmac {ours:.2f}, standardwebhooks "
          f"Webhook.verify {theirs:.2f} ({theirs / ours:.1f}x the time)")


if __name__ == "__main__":
    main()
