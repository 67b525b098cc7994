"""Inputs fuzzing found to answer 500, each pinned as a regression test."""
from __future__ import annotations

import pytest

from conversions.core import canonical


@pytest.mark.parametrize("action", ["replay", "discard"])
@pytest.mark.parametrize("failure_id", ["9223372036854775808", "5251978080778128509905141760"])
def test_a_dead_letter_id_past_64_bits_is_not_found(client, action, failure_id):
    response = client.post(f"/api/conversions/ingestion/failures/{failure_id}/{action}")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("value", [1e21, -1.7976931348623155e308, 10**400])
def test_a_goal_value_past_1e21_has_a_canonical_form(value):
    assert canonical.renderings({"event_name": "x", "properties": {"value": value}}, "t")


@pytest.mark.parametrize("accept", ["image/*", "application/json"])
def test_an_oversized_json_pixel_of_a_known_buyer_is_refused_not_a_500(client, tenant, accept):
    body = b'{"event_name": "x", "pad": "' + b"a" * 70000 + b'"}'
    response = client.post("/api/conversions/pixel?buyer_id=buyer-1&event_name=x", data=body,
                           headers={"Content-Type": "application/json", "Accept": accept})
    assert response.status_code == 413
