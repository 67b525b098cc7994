"""``GET /api/openapi.json``: valid OpenAPI 3.1 that describes every endpoint of the app."""
from __future__ import annotations

import re

import pytest
from flask import Flask, jsonify
from openapi_spec_validator import validate

from conversions.web import openapi, params
from conversions.web.auth import admin_required

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
    assert not missing, f"endpoints without a description (@openapi.operation): {sorted(missing)}"


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


def test_a_view_without_its_description_is_refused():
    app = Flask(__name__, static_folder=None)
    app.add_url_rule("/plain", "plain", lambda: "")
    with pytest.raises(ValueError, match=r"plain: serves \['get'\], its view describes \[\]"):
        openapi.build(app)


def test_a_method_described_but_not_served_is_refused():
    app = Flask(__name__, static_folder=None)

    @openapi.operation("post", responses={"200": {"description": "Done."}})
    @openapi.operation("get", responses={"200": {"description": "Done."}})
    def both() -> str:
        return ""

    app.add_url_rule("/both", "both", both, methods=["GET"])
    with pytest.raises(ValueError, match=r"serves \['get'\], its view describes \['get', 'post'\]"):
        openapi.build(app)


def test_an_admin_view_is_described_with_the_bearer_token_and_its_refusals():
    app = Flask(__name__, static_folder=None)

    @openapi.operation("get", responses={"200": {"description": "The secret."}})
    @admin_required
    def secret() -> str:
        return ""

    app.add_url_rule("/secret", "secret", secret)
    operation = openapi.build(app)["paths"]["/secret"]["get"]
    assert operation["security"] == [{"adminBearer": []}]
    assert set(operation["responses"]) == {"200", "401", "403"}


def test_a_path_parameter_the_rule_does_not_have_is_refused():
    app = Flask(__name__, static_folder=None)

    @openapi.operation("get", parameters=[{"in": "path", "name": "id", "required": True,
                                           "schema": {"type": "integer"}}],
                       responses={"200": {"description": "The item."}})
    def item(item_id: int) -> str:
        return str(item_id)

    app.add_url_rule("/items/<int:item_id>", "item", item)
    with pytest.raises(ValueError, match=r"\['id'\] described, the rule has \['item_id'\]"):
        openapi.build(app)


def test_a_query_parameter_described_by_hand_and_by_the_schema_is_refused():
    class Query(params.Query):
        limit = params.WholeNumber("How many.", 1, 10)

    app = Flask(__name__, static_folder=None)

    @openapi.operation("get", query=Query, responses={"200": {"description": "Items."}},
                       parameters=[{"in": "query", "name": "limit", "schema": {"type": "string"}}])
    def items() -> str:
        return ""

    app.add_url_rule("/items", "items", items)
    with pytest.raises(ValueError, match=r"\['limit'\] described by hand and by the query schema"):
        openapi.build(app)


def test_query_parameters_are_the_fields_of_the_schema_the_view_loads(document):
    from conversions.monitoring.stats import MetricsQuery

    described = [(p["name"], p["required"], p["schema"]) for p in
                 document["paths"]["/api/conversions/metrics"]["get"]["parameters"]]
    assert [name for name, _, _ in described] == [
        field.data_key or name for name, field in MetricsQuery().fields.items()]
    assert ("tenant_id", True, {"type": "string", "format": "uuid"}) in described
    assert ("granularity", False, {"type": "string", "enum": ["hour", "day"]}) in described


# No query parameter's rule accepts this: too long, not a number, a choice, a UUID or a time,
# and with a control character.
JUNK = "\x01" + "9" * 300


def valid_value(parameter: dict, tenant_id: str) -> str:
    if parameter["name"] == "tenant_id":
        return tenant_id
    return parameter["schema"]["enum"][0]


def unvalidated(app, client, tenant_id: str) -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every query parameter described for a view that loads
    its query with a ``web.params.Query``, but that the view does not refuse as junk: a
    described parameter the view's schema does not take."""
    document = openapi.build(app)
    found = []
    for rule in app.url_map.iter_rules():
        for method, operation in openapi.operations(app.view_functions[rule.endpoint]).items():
            if not operation.query or not all(issubclass(q, params.Query)
                                              for q in operation.query):
                continue
            path = openapi.path_template(rule.rule)
            described = [p for p in document["paths"][path][method]["parameters"]
                         if p["in"] == "query"]
            required = {p["name"]: valid_value(p, tenant_id) for p in described if p["required"]}
            for parameter in described:
                name = parameter["name"]
                response = client.open(rule.rule, method=method.upper(),
                                       query_string={**required, name: JUNK})
                body = response.get_json(silent=True) or {}
                if response.status_code != 400 or body.get("parameter") != name:
                    found.append((method, rule.rule, name))
    return found


def test_every_described_query_parameter_is_one_its_view_refuses_when_wrong(app, client, tenant):
    assert unvalidated(app, client, tenant["tenant_id"]) == []


def test_a_described_query_parameter_the_view_does_not_load_is_found(app, client, tenant):
    class Described(params.Query):
        limit = params.WholeNumber("How many.", 1, 10)
        kind = params.Choice("Which kind.", ("a", "b"))

    class Loaded(params.Query):
        limit = params.WholeNumber("How many.", 1, 10)

    @openapi.operation("get", query=Described, responses={"200": {"description": "Items."}})
    def items() -> object:
        return jsonify(params.load(Loaded))

    app.add_url_rule("/items", "items", items)
    assert unvalidated(app, client, tenant["tenant_id"]) == [("get", "/items", "kind")]
