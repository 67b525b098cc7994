"""No secret ever reaches a log line: the whole run is searched (tests/suite_checks.py);
these tests make sure that search sees the logs and would find a secret."""
from __future__ import annotations

import json
import logging

from tests import suite_checks


def captured() -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return suite_checks.LOG_FILE.read_text()


def test_every_secret_issued_is_recorded_for_the_search(tenant):
    assert tenant["pixel_secret"] in suite_checks.issued
    assert tenant["webhook_secret"] in suite_checks.issued
    assert tenant["webhook_secret"].removeprefix("whsec_") in suite_checks.issued


def test_rotated_and_cli_secrets_are_recorded_too(runner, tenant):
    result = runner.invoke(args=["tenant", "rotate-secret", tenant["tenant_id"],
                                 "--kind", "pixel"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pixel_secret"] in suite_checks.issued
    created = json.loads(runner.invoke(args=["tenant", "create", "--domain", "b.example"]).output)
    assert created["webhook_secret"] in suite_checks.issued


def test_refusals_are_logged_without_the_secret_sent_as_the_signature(client, tenant):
    secret = tenant["pixel_secret"]
    marker = "marker-for-the-log-capture"
    client.post("/api/v1/track/pixel/goal?domain=shop.example.com",
                data=json.dumps({"event_name": marker}).encode(),
                headers={"Content-Type": "application/json", "X-LP-Goal-Signature": secret})
    logging.getLogger("tests").warning("capture check %s", marker)
    text = captured()
    assert "signed request refused" in text  # the middleware's refusal reached the capture
    assert marker in text
    assert suite_checks.leaks(text, suite_checks.forms(secret)) == []


def test_the_search_finds_a_secret_in_any_of_its_forms():
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    for form in suite_checks.forms(secret):
        assert suite_checks.leaks(f"... {form} ...", suite_checks.forms(secret))
    assert suite_checks.leaks("nothing here", suite_checks.forms(secret)) == []
    pixel = "ab" * 32
    assert bytes.fromhex(pixel).hex().upper() in suite_checks.forms(pixel)
