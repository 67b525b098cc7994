"""The known answers themselves: written by their script, covering every rule, and accepted by
the service. (The goals are posted in tests/ingest/test_goals.py and to a real gunicorn in
tests/integration/test_goal_server.py; clients/python and clients/js check them too.)"""
from __future__ import annotations

import base64
import uuid
from itertools import combinations
from urllib.parse import urlsplit

import pytest

from tests.support import seed_tenant
from tests.vectors import load, make_vectors

VECTORS = load()
GOALS = VECTORS["goals"]


def test_the_file_is_what_its_script_writes():
    assert make_vectors.main(["--check"]) == 0, \
        "regenerate: .venv/bin/python -m tests.vectors.make_vectors"


def test_there_are_at_least_40_goals_with_distinct_names():
    assert len(GOALS) >= 40
    assert len({case["name"] for case in GOALS}) == len(GOALS)


def test_every_property_alone_and_combined_and_none():
    sets = {frozenset(name for name in ("value", "currency", "plan") if name in case["goal"])
            for case in GOALS}
    every = [frozenset(chosen) for size in range(4)
             for chosen in combinations(("value", "currency", "plan"), size)]
    assert set(every) <= sets


def test_session_id_absent_and_empty():
    sessions = [case["goal"].get("session_id", "absent") for case in GOALS]
    assert "absent" in sessions
    assert "" in sessions


def test_first_touch_fields_present_and_absent():
    shapes = {("first_touch_bucket" in case["goal"], "first_touch_ts" in case["goal"])
              for case in GOALS}
    assert shapes == {(True, True), (True, False), (False, True), (False, False)}


def test_values_at_the_bounds():
    values = {case["goal"].get("value") for case in GOALS}
    assert {0, 0.01, 9999.99, 10000} <= values


def test_non_ascii_names_and_plans_with_both_renderings():
    def differs(field: str) -> bool:
        return any(case["renderings_differ"] and not case["goal"].get(field, "").isascii()
                   for case in GOALS)

    assert differs("event_name")
    assert differs("plan")
    for case in GOALS:
        assert case["escaped"]["canonical"].isascii()
        assert (case["escaped"]["canonical"] != case["raw"]["canonical"]) \
            == case["renderings_differ"]
    # DEL is ASCII, yet only the escaped rendering escapes it.
    assert any(case["renderings_differ"] and case["goal"].get("plan", "").isascii()
               for case in GOALS)


@pytest.fixture
def sent_at(app, frozen_clock):
    """The service's clock at the moment the webhook and pixel vectors were signed."""
    frozen_clock.now = float(VECTORS["sent_at"])


@pytest.mark.parametrize("case", VECTORS["webhooks"], ids=lambda case: case["name"])
def test_every_webhook_vector_is_accepted(client, sent_at, case):
    keys = tuple(base64.b64decode(secret.removeprefix("whsec_"))
                 for secret in case["webhook_secrets"])
    seed_tenant(str(uuid.uuid4()), "hooks.example.com", "00" * 32, buyer_id="hooks-1",
                webhook_keys=keys)
    response = client.post("/api/conversions/webhook?buyer_id=hooks-1",
                           data=case["body"].encode(), headers={
                               "Content-Type": "application/json", "webhook-id": case["msg_id"],
                               "webhook-timestamp": str(case["timestamp"]),
                               "webhook-signature": case["webhook_signature"]})
    assert response.status_code == 202, response.json
    events = case["events"] if isinstance(case["events"], list) else [case["events"]]
    assert response.json["accepted"] == len(events)


@pytest.mark.parametrize("case", VECTORS["pixel_urls"], ids=lambda case: case["name"])
def test_every_pixel_vector_is_accepted(client, sent_at, case):
    seed_tenant(str(uuid.uuid4()), "shop.example.com", "00" * 32, buyer_id="buyer-1")
    url = urlsplit(case["url"])
    response = client.get(f"{url.path}?{url.query}", headers={"Accept": "application/json"})
    assert response.status_code == 202, response.json
    assert response.json["duplicate"] is False
