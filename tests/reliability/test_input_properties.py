"""Properties of the validators and the goal endpoint (hypothesis): random bodies never
raise, and every answer is JSON, never a 500."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from conversions.core import budget, canonical, rules
from conversions.ingest.schemas import flatten, goal_event
from tests.reliability.strategies import goal_shaped, json_values
from tests.support import goal_mac, post_goal_body


@settings(max_examples=300)
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
       | st.sampled_from([b'{"value": NaN}', b'{"v": Infinity}', b"[" * 5000, b"\xff{}"]))
def test_parsing_any_bytes_either_succeeds_or_says_not_json(raw):
    try:
        body = canonical.parse_body(raw)
    except canonical.NotJson:
        return
    assert isinstance(body, dict)


@settings(max_examples=250)
@given(body=goal_shaped, tenant_id=st.uuids().map(str))
def test_the_canonical_form_and_validators_never_raise_on_any_object(app, body, tenant_id):
    renderings = canonical.renderings(body, tenant_id)
    assert len(canonical.digest(body, tenant_id)) == 64
    assert all(isinstance(r, bytes) for r in renderings)
    dict(rules.find_pii(body))
    try:
        with app.app_context():  # some rules read the configuration
            goal_event.load(body)
    except ValidationError as err:
        problems = flatten(err.messages)
    else:
        problems = {}
    assert all(isinstance(v, list) for v in problems.values())


@settings(max_examples=300)
@given(value=st.floats(allow_nan=False) | st.decimals(allow_nan=False) | st.integers()
       | st.sampled_from([-1.7976931348623155e308, 1e21, 9.999999999999999e20, -0.005]))
def test_any_number_as_value_has_a_canonical_form(value):
    assert canonical.renderings({"event_name": "x", "properties": {"value": value}}, "t")


@settings(max_examples=100)
@given(body=goal_shaped)
def test_any_signed_object_gets_an_answer_never_a_500(client, tenant, body):
    raw = json.dumps(body).encode()
    renderings = canonical.renderings(canonical.parse_body(raw), tenant["tenant_id"])
    key = bytes.fromhex(tenant["pixel_secret"])
    signature = goal_mac(key, renderings[0]) if renderings else "0"
    response = post_goal_body(client, raw, signature)
    assert response.status_code in (200, 202, 400, 401), response.get_json()
    answer = response.get_json()
    assert answer is not None
    if response.status_code >= 400:
        assert isinstance(answer["error"], str)
        assert isinstance(answer["message"], str)


@settings(max_examples=150)
@given(raw=st.binary(max_size=200), query=st.text(max_size=40),
       signature=st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=70))
def test_any_unsigned_request_gets_an_answer_never_a_500(client, tenant, raw, query, signature):
    response = client.post(f"/api/v1/track/pixel/goal?{query}", data=raw,
                           headers={"X-LP-Goal-Signature": signature})
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"]


# Text with what each check looks for: emails, long digit runs, lone surrogates.
_findable = st.lists(st.characters(codec=None) | st.sampled_from(
    ["@", "a@b.co", "555-123-4567", "123-45-6789", "+44 20 7946 0958", "\ud800", "\udfff", "7",
     ".", "(key)"]), max_size=12).map("".join)
_nested = st.recursive(st.none() | st.integers() | _findable,
                       lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_findable | st.integers(), inner, max_size=4),
                       max_leaves=15)


def _every_text(value, path=""):
    """The reference walk: every string and key (as text) with its path, depth first."""
    if isinstance(value, str):
        yield path or "$", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}(key)".lstrip("."), str(key)
            yield from _every_text(item, f"{path}.{key}".lstrip("."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _every_text(item, f"{path}[{index}]")


@settings(max_examples=500)
@given(value=_nested)
def test_one_walk_finds_each_text_a_plain_walk_finds(value):
    # Until MAX_FINDINGS places hold personal data, each path cut to MAX_PATH.
    pii, broken = [], {}
    for path, text in _every_text(value):
        if len(broken) < budget.MAX_FINDINGS and any("\ud800" <= ch <= "\udfff" for ch in text):
            broken[budget.cut_path(path)] = [rules.LONE_SURROGATE]
        if rules.pii_kind(text):
            pii.append((budget.cut_path(path), rules.pii_kind(text)))
            if len(pii) == budget.MAX_FINDINGS:
                break
    assert rules.text_findings(value) == (pii, broken)
    assert list(rules.find_pii(value)) == pii
    assert rules.lone_surrogates(value) == broken
