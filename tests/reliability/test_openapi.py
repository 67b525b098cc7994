"""``GET /api/openapi.json``: valid OpenAPI 3.1 that describes every endpoint of the app."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """A Flask rule (``/x/<int:id>``) as an OpenAPI path template (``/x/{id}``)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def app_operations(app) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods - IGNORED_METHODS
    }


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_endpoint_of_the_app_is_documented(app, document):
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    missing = app_operations(app) - documented
    assert not missing, f"endpoints without a description (*/docs.py): {sorted(missing)}"


def test_nothing_documented_that_the_app_does_not_serve(app, document):
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in {"get", "post", "put", "patch", "delete"}}
    stale = documented - app_operations(app)
    assert not stale, f"documented but not served: {sorted(stale)}"


# Readiness answers its own shape when the store is down, so a checklist can still render.
OWN_ERROR_SHAPE = {("/api/conversions/readiness", "get", "503")}


def test_every_error_response_uses_the_one_error_shape(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if (path, method, status) in OWN_ERROR_SHAPE:
                    continue
                if int(status) >= 400 and "application/json" in response.get("content", {}):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_security_schemes_name_the_bearer_token_and_the_signature_headers(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminBearer"] == {**schemes["adminBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["goalSignature"]["name"] == "X-LP-Goal-Signature"
    assert schemes["webhookSignature"]["name"] == "webhook-signature"
    goal = document["paths"]["/api/v1/track/pixel/goal"]["post"]
    assert goal["security"] == [{"goalSignature": []}]


def test_goal_body_is_generated_from_the_marshmallow_schema(document):
    from conversions.ingest.schemas import GoalEvent

    goal = document["components"]["schemas"]["GoalEvent"]
    assert set(goal["properties"]) == set(GoalEvent().fields)
    assert goal["properties"]["event_name"]["maxLength"] == 64


def test_openapi_path_converts_flask_rules():
    assert openapi_path("/a/<int:event_id>/b/<name>") == "/a/{event_id}/b/{name}"
