"""``GET /api/openapi.json``: the OpenAPI 3.1 document, built by apispec from the schemas.

Each view describes itself with ``@operation`` beside it, its query parameters the fields of
the schema it loads them with; the builder walks the app's URL map and refuses a route whose
view leaves a method or a path parameter undescribed. The helpers here give every
description the same error and security shapes.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import INCLUDE, Schema, fields
from werkzeug.routing import Rule

from conversions.web.auth import is_admin_only

bp = Blueprint("openapi", __name__)

DOC_PATH = "/api/openapi.json"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminBearer": {
        "type": "http", "scheme": "bearer",
        "description": "CONVERSIONS_ADMIN_TOKEN. When none is configured, loopback clients "
                       "are answered without it.",
    },
    "settingsSession": {
        "type": "apiKey", "in": "cookie", "name": "session",
        "description": "The /settings pages' session, opened by signing in with the token.",
    },
    "goalSignature": {
        "type": "apiKey", "in": "header", "name": "X-LP-Goal-Signature",
        "description": "Hex HMAC-SHA256 of the goal's canonical JSON, keyed by the bytes of "
                       "the tenant's pixel secret (docs/signing.md).",
    },
    "webhookSignature": {
        "type": "apiKey", "in": "header", "name": "webhook-signature",
        "description": "Standard Webhooks: 'v1,<base64 HMAC-SHA256>' over "
                       "'{webhook-id}.{webhook-timestamp}.{body}', keyed by the webhook secret.",
    },
}


IsoInstant = fields.String  # an instant in an answer: ISO-8601 text in UTC


class Error(Schema):
    """Every refusal: ``{"error": code, "message": text, ...}`` (more keys per error)."""

    class Meta:
        unknown = INCLUDE

    error = fields.String(required=True, metadata={"description": "A stable error code."})
    message = fields.String(required=True, metadata={"description": "Human-readable text."})
    fields_ = fields.Dict(
        data_key="fields", keys=fields.String(),
        metadata={"description": "Where the problems are (invalid_event, pii_rejected): "
                                 "at most 2 KiB of JSON, paths at most 120 characters, at "
                                 "most three places of personal data."},
    )
    fields_omitted = fields.Integer(metadata={
        "description": "How many problems `fields` leaves out to stay within 2 KiB."})


_ERRORS = {
    400: "The request breaks a rule (see `error`); a JSON body or parameters past the shape "
         "(32 levels, 50,000 keys or strings) is `json_too_complex`.",
    401: "Missing or invalid credentials or signature.",
    403: "Not allowed from here (no admin token configured and not loopback, or cross-site; "
         "for a postback, an address off the tenant's allow-list).",
    404: "Unknown tenant or resource.",
    409: "The resource cannot do this (see `error`).",
    411: "A Content-Length header is required.",
    413: "The body is over the endpoint's limit (`payload_too_large`).",
    415: "The body has an unsupported media type.",
    422: "Rows break rules and nothing was stored (`import_refused`, with every error).",
    429: "Over the rate limit (`rate_limited`); retry after `Retry-After` seconds.",
    503: "Storage is unavailable or did not answer in time (`store_unavailable`): the request "
         "may have been stored; retrying after `Retry-After` seconds is safe.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                               "required": True, "schema": {"type": "string"}}}


def json_answer(description: str, schema: Any, **extra: Any) -> dict[str, Any]:
    """A response described as JSON of ``schema`` (a class, or a component's name)."""
    return {"description": description, "content": {"application/json": {"schema": schema}},
            **extra}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses, each the one JSON error shape."""
    out = {}
    for status in statuses:
        extra = {"headers": RETRY_AFTER} if status in (429, 503) else {}
        out[str(status)] = json_answer(_ERRORS[status], "Error", **extra)
    return out


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", bound=type)
_OPERATIONS = "openapi_operations"  # where a described view keeps its operations
# Custom marshmallow fields' OpenAPI types (``field_type``).
_FIELD_TYPES: dict[type, str] = {}


@dataclass(frozen=True)
class Operation:
    """One method of a view, described: the OpenAPI operation (marshmallow schemas as
    classes) and the schemas the view loads its query string with."""

    fields: Mapping[str, Any]
    query: tuple[type[Schema], ...]

    def document(self, rule: Rule, admin: bool) -> dict[str, Any]:
        """The operation as apispec takes it, its parameters checked against ``rule``;
        ``admin``: the view is ``admin_required`` (bearer token, or loopback)."""
        explicit = list(self.fields.get("parameters", ()))
        in_path = {parameter["name"] for parameter in explicit if parameter["in"] == "path"}
        if in_path != set(rule.arguments):
            raise ValueError(f"{rule.endpoint}: path parameters {sorted(in_path)} described, "
                             f"the rule has {sorted(rule.arguments)}")
        loaded = {field.data_key or name for schema in self.query
                  for name, field in schema().fields.items()}
        twice = {p["name"] for p in explicit if p["in"] == "query"} & loaded
        if twice:
            raise ValueError(f"{rule.endpoint}: {sorted(twice)} described by hand and by the "
                             "query schema")
        # apispec resolves schemas in place: each document gets its own copy.
        operation = copy.deepcopy(dict(self.fields))
        parameters = [{"in": "query", "schema": schema} for schema in self.query]
        if parameters or explicit:
            operation["parameters"] = parameters + operation.get("parameters", [])
        if admin:
            operation["security"] = [{"adminBearer": []}]
            operation["responses"] = {**operation["responses"], **errors(401, 403)}
        return operation


def operation(method: str, *, query: type[Schema] | tuple[type[Schema], ...] = (),
              **fields: Any) -> Callable[[F], F]:
    """Describe the decorated view's ``method`` (put it right under the route): ``fields``
    are the OpenAPI operation's (summary, parameters in a header or the path, requestBody,
    responses); ``query``, the ``Schema`` (or schemas) the view loads its query string with,
    whose fields become its query parameters. An ``admin_required`` view gets the bearer
    token's security and its 401 and 403."""
    queries = query if isinstance(query, tuple) else (query,)

    def describe(view: F) -> F:
        operations = view.__dict__.setdefault(_OPERATIONS, {})
        if method in operations:
            raise ValueError(f"{view.__name__}: {method} is described twice")
        operations[method] = Operation(fields, queries)
        return view

    return describe


def operations(view: Callable[..., Any]) -> dict[str, Operation]:
    """The view's described operations, by method."""
    return getattr(view, _OPERATIONS, {})


def field_type(openapi_type: str) -> Callable[[T], T]:
    """Give a custom marshmallow field class its OpenAPI type in the document."""

    def register(field: T) -> T:
        _FIELD_TYPES[field] = openapi_type
        return field

    return register


def path_template(rule: str) -> str:
    """A Flask rule (``/x/<int:id>``) as an OpenAPI path template (``/x/{id}``)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def build(app: Flask, version: str = "0.1.0") -> dict[str, Any]:
    """The whole document, as a dict; a ``ValueError`` when a route's methods are not the
    ones its view describes, or its path parameters not the ones described."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="conversions", version=version, openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Ingests signed conversion events and serves their figures. "
                             "Every error body is JSON: {\"error\", \"message\", ...}."},
    )
    for field, openapi_type in _FIELD_TYPES.items():
        plugin.map_to_openapi_type(field, openapi_type, None)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", schema=Error)
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        described = operations(view)
        served = {method.lower() for method in rule.methods or ()} - {"head", "options"}
        if set(described) != served:
            raise ValueError(f"{rule.endpoint}: serves {sorted(served)}, its view describes "
                             f"{sorted(described)} (conversions.web.openapi.operation)")
        spec.path(path=path_template(rule.rule),
                  operations={method: described[method].document(rule, is_admin_only(view))
                              for method in sorted(described)})
    return spec.to_dict()


@bp.get(DOC_PATH)
@operation("get", summary="This OpenAPI document.", tags=["operations"], responses={
    "200": {"description": "The OpenAPI 3.1 document.",
            "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi_json() -> ResponseReturnValue:
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build(current_app)
    return jsonify(document)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
