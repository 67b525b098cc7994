"""schemathesis against a real gunicorn serving ``/api/openapi.json``: no 5xx, every answer
as documented. Goal and webhook bodies are signed with a real tenant's keys, so the views
themselves are fuzzed and not only the signature checks."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from conversions.core import canonical
from tests import schemathesis_support, support
from tests.support import UNLIMITED, Server, openapi_document

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 40  # per operation: a few hundred cases, well under a minute
TOKEN = "schemathesis-admin-token"  # noqa: S105  (a test credential)
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_headers_conformance,
          checks.response_schema_conformance]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """gunicorn on its own database with one tenant; yields (server, tenant)."""
    from app import create_app
    from conversions.store.database import connection
    from conversions.tenants import accounts, postback_tokens
    from tests.support import empty_database

    tmp = tmp_path_factory.mktemp("schemathesis")
    url = support.test_database_url(tmp)
    create_app({"DATABASE_URL": url, "LOG_FORMAT": "text"})
    with connection():
        empty_database()
        tenant = accounts.create("fuzz.example.com", "fuzz-buyer")
        tenant["postback_token"] = postback_tokens.issue(tenant["tenant_id"], "http://x")["token"]
    env = {"DATABASE_URL": url, "CONVERSIONS_ADMIN_TOKEN": TOKEN,
           **{f"CONVERSIONS_{name}": value for name, value in UNLIMITED.items()}}
    with Server(env, log_path=tmp / "gunicorn.log") as server:
        yield server, tenant


@pytest.fixture(scope="module")
def api_schema(live):
    server, _ = live
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


def sign_goal(case, tenant: dict) -> None:
    """Sign a generated goal body as a client would, for the tenant's domain."""
    if not isinstance(case.body, dict):
        return
    raw = json.dumps(case.body).encode()
    renderings = canonical.renderings(canonical.parse_body(raw), tenant["tenant_id"])
    if renderings:
        key = bytes.fromhex(tenant["pixel_secret"])
        case.query = {**(case.query or {}), "domain": tenant["domain"]}
        case.headers = {**(case.headers or {}),
                        "X-LP-Goal-Signature": hmac.new(key, renderings[0],
                                                        hashlib.sha256).hexdigest()}


def documented_operations() -> list[tuple[str, str]]:
    document = openapi_document()
    return [(path, method.upper()) for path, item in document["paths"].items()
            for method in item]


def sign_webhook(case, tenant: dict) -> None:
    """Sign a generated webhook body (Standard Webhooks) with the tenant's webhook secret."""
    if isinstance(case.body, (dict, list)):
        raw = json.dumps(case.body, allow_nan=False).encode()  # what requests will send
        message_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
        key = base64.b64decode(tenant["webhook_secret"].removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + raw
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        case.query = {"tenant_id": tenant["tenant_id"]}
        case.headers = {**(case.headers or {}), "webhook-id": message_id,
                        "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}"}


def postback_token(case, tenant: dict) -> None:
    """Use the tenant's live postback token, so the postback views themselves are fuzzed."""
    case.path_parameters = {**(case.path_parameters or {}), "token": tenant["postback_token"]}


SIGNERS = {"/api/v1/track/pixel/goal": sign_goal, "/api/conversions/webhook": sign_webhook,
           "/api/conversions/postback/{provider}/{token}": postback_token}


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize(("path", "method"), documented_operations())
def test_the_service_answers_as_documented(api_schema, live, path, method, mode):
    server, tenant = live
    operation = api_schema[path][method]
    if mode is GenerationMode.NEGATIVE and not operation.body and not operation.query:
        pytest.skip("nothing to make invalid")

    @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(case=operation.as_strategy(mode))
    def answers_as_documented(case):
        if path in SIGNERS:
            SIGNERS[path](case, tenant)
        elif mode is GenerationMode.POSITIVE:
            # Name the real tenant, so valid requests reach the figures, not only 404s.
            real = {"buyer_id": tenant["buyer_id"], "tenant_id": tenant["tenant_id"]}
            case.query = {**(case.query or {}),
                          **{k: v for k, v in real.items() if k in (case.query or {})}}
        if mode is GenerationMode.POSITIVE:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
        schemathesis_support.cases[f"{method} {path} ({mode.value})"] += 1
        response = case.call_and_validate(base_url=server.url,
                                          headers={"Authorization": f"Bearer {TOKEN}"},
                                          checks=CHECKS)
        schemathesis_support.statuses[f"{method} {path}"][response.status_code] += 1

    answers_as_documented()
