"""The client reproduces every known answer of ``tests/vectors/signing.json`` byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conversions_client import canonical_goal, pixel_url, sign_goal, sign_webhook

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "tests" / "vectors" / "signing.json")
                     .read_text(encoding="utf-8"))


def ids(cases: list[dict]) -> list[str]:
    return [case["name"] for case in cases]


@pytest.mark.parametrize("case", VECTORS["goals"], ids=ids(VECTORS["goals"]))
@pytest.mark.parametrize("side", ["escaped", "raw"])
def test_goal_signature_canonical_and_body(case, side):
    goal = dict(case["goal"])
    signed = sign_goal(case["tenant_id"], case["pixel_secret"], goal.pop("event_name"),
                       goal.pop("session_id", None), escape_non_ascii=side == "escaped", **goal)
    expected = case[side]
    assert signed.canonical == expected["canonical"].encode()
    assert signed.signature == expected["signature"]
    assert signed.body == expected["body"].encode()


@pytest.mark.parametrize("case", VECTORS["goals"], ids=ids(VECTORS["goals"]))
def test_canonical_of_every_equivalent_body_is_the_same(case):
    for text in [case["escaped"]["body"], *case.get("equivalent_bodies", [])]:
        assert canonical_goal(json.loads(text), case["tenant_id"]) \
            == case["escaped"]["canonical"].encode()


@pytest.mark.parametrize("case", VECTORS["webhooks"], ids=ids(VECTORS["webhooks"]))
def test_webhook_body_and_signature(case):
    secrets = case["webhook_secrets"]
    for events in (case["events"], case["body"], case["body"].encode()):
        signed = sign_webhook(secrets if len(secrets) > 1 else secrets[0], events,
                              msg_id=case["msg_id"], timestamp=case["timestamp"])
        assert signed.body == case["body"].encode()
        assert signed.headers == {
            "Content-Type": "application/json", "webhook-id": case["msg_id"],
            "webhook-timestamp": str(case["timestamp"]),
            "webhook-signature": case["webhook_signature"]}


@pytest.mark.parametrize("case", VECTORS["pixel_urls"], ids=ids(VECTORS["pixel_urls"]))
def test_pixel_url(case):
    assert pixel_url(case["base_url"], **case["pixel"]) == case["url"]
