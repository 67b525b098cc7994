"""The middleware inside real frameworks: the examples of middleware/examples (bare WSGI, Flask,
Falcon, Django), each in its own venv built from its pinned requirements and the middleware
as pip installs it, each served by a real gunicorn."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.support import ROOT, free_port, missing, until

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "middleware" / "examples"
ENVIRONMENTS = ROOT / ".venv" / "frameworks"
# name: (gunicorn's app, the folder it runs in, how the framework spells the hook paths)
FRAMEWORKS = {
    "bare": ("bare:application", EXAMPLES, ""),
    "flask": ("flask_app:app", EXAMPLES, ""),
    "falcon": ("falcon_app:application", EXAMPLES, ""),
    "django": ("config.wsgi:application", EXAMPLES / "django_project", "/"),
}
CURRENT, IN_GRACE, RETIRED = (bytes([n]) * 32 for n in (3, 2, 1))
BODY_SECONDS = 1
MAX_BODY = 64 * 1024


def environment(name: str) -> Path:
    """The framework's venv under .venv/frameworks, made again when its requirements or the
    middleware change; a framework that cannot be installed skips (fails under CI=true)."""
    requirements = EXAMPLES / f"requirements-{name}.txt"
    middleware = ROOT / "middleware"
    digest = hashlib.sha256(requirements.read_bytes())
    for path in sorted([middleware / "pyproject.toml", *middleware.glob("src/wsgi_hmac/*")]):
        digest.update(path.name.encode() + path.read_bytes())
    venv = ENVIRONMENTS / name
    stamp = venv / "installed"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return venv
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(requirements), str(middleware)],
                       check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as err:
        last = (err.stderr or "").strip().splitlines()[-1:] or ["no output"]
        missing(f"the {name} example's environment could not be installed ({last[0]}); "
                "check network access to PyPI, then run make test")
    stamp.write_text(digest.hexdigest())
    return venv


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory) -> Path:
    now = time.time()
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    path.write_text(json.dumps({"acme": [
        {"id": "k3", "secret": base64.b64encode(CURRENT).decode(), "retired_at": None},
        {"id": "k2", "secret": base64.b64encode(IN_GRACE).decode(), "retired_at": now - 3600},
        {"id": "k1", "secret": base64.b64encode(RETIRED).decode(), "retired_at": now - 3 * 86400},
    ]}))
    return path


class Served:
    """One example under gunicorn; ``slash`` is how its framework ends the hook paths."""

    def __init__(self, name: str, keys: Path) -> None:
        app, folder, self.slash = FRAMEWORKS[name]
        venv = environment(name)
        self.port = free_port()
        log = ROOT / "tests" / "artifacts" / "servers" / f"{name}-{self.port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("ab")
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env.update(HOOK_KEYS=str(keys), HOOK_BODY_SECONDS=str(BODY_SECONDS))
        self.process = subprocess.Popen(
            [venv / "bin" / "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--worker-class", "gthread", "--threads", "4", "--pythonpath", str(EXAMPLES), app],
            cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        until(self._answers, timeout=60, interval=0.1)

    def _answers(self) -> bool:
        assert self.process.poll() is None, "gunicorn exited; see tests/artifacts/servers"
        try:
            self.request("GET", "/open")
        except OSError:
            return False
        return True

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


@pytest.fixture(scope="module", params=list(FRAMEWORKS))
def served(request, keys_file):
    server = Served(request.param, keys_file)
    yield server
    server.stop()


def signed(body: bytes, secret: bytes = CURRENT) -> dict[str, str]:
    """The header scheme: HMAC-SHA256 of the body exactly as sent, in hex."""
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"X-Client-Id": "acme", "X-Signature": signature}


def webhook(body: bytes, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers, signed by the reference library."""
    at = at or datetime.now(UTC)
    sender = Webhook("whsec_" + base64.b64encode(CURRENT).decode())
    return {"X-Client-Id": "acme", "webhook-id": "msg_1",
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": sender.sign("msg_1", at, body.decode())}


def refused_by_the_middleware(answer, status: int, error: str) -> None:
    code, headers, body = answer
    assert code == status, body
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"  # the middleware's answer, not the framework's
    assert json.loads(body).keys() == {"error", "message"}
    assert json.loads(body)["error"] == error


BODY = b'{"event": "signup", "bytes": "\xc3\xa9\\u0000"}\r\n'


def test_a_signed_request_reaches_the_view_with_its_body_byte_for_byte(served):
    status, _, answer = served.request("POST", "/hooks/in" + served.slash, BODY, signed(BODY))
    assert status == 200, answer
    assert json.loads(answer) == {"client": "acme", "key_id": "k3",
                                  "body": base64.b64encode(BODY).decode()}


def test_a_key_within_its_rotation_grace_still_verifies(served):
    status, _, answer = served.request("POST", "/hooks/in" + served.slash, BODY,
                                       signed(BODY, IN_GRACE))
    assert (status, json.loads(answer)["key_id"]) == (200, "k2")


def test_standard_webhooks_signed_by_the_reference_library_pass(served):
    status, _, answer = served.request("POST", "/hooks/webhook" + served.slash, BODY,
                                       webhook(BODY))
    assert status == 200, answer
    assert json.loads(answer)["body"] == base64.b64encode(BODY).decode()


@pytest.mark.parametrize(("path", "headers", "body", "status", "error"), [
    pytest.param("/hooks/in", {"X-Client-Id": "acme"}, BODY, 401, "missing_signature",
                 id="unsigned"),
    pytest.param("/hooks/in", {**signed(BODY), "X-Signature": "00" * 32}, BODY, 401,
                 "invalid_signature", id="wrong-signature"),
    pytest.param("/hooks/in", signed(BODY, RETIRED), BODY, 401, "invalid_signature",
                 id="key-past-its-grace"),
    pytest.param("/hooks/in", {**signed(BODY), "X-Client-Id": "nobody"}, BODY, 401,
                 "unknown_client", id="unknown-client"),
    pytest.param("/hooks/in", signed(b"x" * (MAX_BODY + 1)), b"x" * (MAX_BODY + 1), 413,
                 "payload_too_large", id="oversized"),
    pytest.param("/hooks/webhook", "stale", BODY, 401, "stale_timestamp", id="stale-timestamp"),
])
def test_refusals_are_answered_before_the_framework_runs(served, path, headers, body, status,
                                                         error):
    if headers == "stale":
        headers = webhook(body, datetime.now(UTC) - timedelta(minutes=10))
    answer = served.request("POST", path + served.slash, body, headers)
    refused_by_the_middleware(answer, status, error)


@pytest.mark.parametrize("path", ["//hooks/in", "/hooks//in", "/hooks/in/", "/hooks/%69n",
                                  "/hooks/in//", "/hooks/webhook/"])
def test_near_miss_paths_unsigned_never_reach_a_view(served, path):
    answer = served.request("POST", path, BODY, {"X-Client-Id": "acme"})
    refused_by_the_middleware(answer, 401, "missing_signature")


def test_unguarded_routes_are_untouched(served):
    status, _, answer = served.request("POST", "/open" + served.slash, BODY, signed(BODY))
    assert (status, json.loads(answer)) == (200, {"body": base64.b64encode(BODY).decode()})


def test_a_slow_body_meets_the_deadline(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
        sock.sendall(f"POST /hooks/in{served.slash} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Length: 100\r\nX-Client-Id: acme\r\n\r\n{\"ev".encode())
        answer = b""  # the sender stops here; the deadline answers
        while b"}" not in answer and (part := sock.recv(65536)):
            answer += part
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"error": "request_timeout"' in answer


def test_the_bare_example_under_wsgiref_answers_every_path(keys_file, monkeypatch):
    """``python bare.py`` serves with wsgiref: an unguarded POST and an unknown path are
    answered (no hang on an unread body, no 500 for a missing ``hmac.*`` key)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    monkeypatch.setenv("HOOK_KEYS", str(keys_file))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    application = runpy.run_path(str(EXAMPLES / "bare.py"))["application"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, application, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def post(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=15)
            connection.request("POST", path, body=BODY, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()

        assert post("/open", {}) == (200, json.dumps(
            {"body": base64.b64encode(BODY).decode()}).encode())
        assert post("/elsewhere", {}) == (404, b'{"error": "not_found"}')
        status, answer = post("/hooks/in", signed(BODY))
        assert (status, json.loads(answer)["key_id"]) == (200, "k3")
    finally:
        server.shutdown()
        server.server_close()
        sys.modules.pop("hook_keys", None)  # the example's module, imported by bare.py
