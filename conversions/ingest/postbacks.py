"""``GET|POST /api/conversions/postback/<provider>/<token>``: conversions from measurement
partners and trackers (AppsFlyer, Adjust, Branch, RedTrack, Voluum, generic).

The token in the URL names the tenant (providers cannot sign; ``postback_tokens``) and every
rule of the other sources applies; postbacks never feed AI first-touch attribution.
docs/postbacks.md has the allow-list and what each status (declined, approved) does.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core import canonical, clock, money
from conversions.core.postback_providers import PATH, PROVIDERS
from conversions.ingest import flagged_tests, limits
from conversions.ingest.postback_rows import SOURCE, postback_row
from conversions.rollups import aggregation, tally
from conversions.store import cross_channel, events, prepared
from conversions.store.database import database
from conversions.store.models import Event, Tenant
from conversions.store.writer.group_commit import group_commit
from conversions.tenants.postback_tokens import Found, address_allowed, token_cache
from conversions.web import json_shape, openapi
from conversions.web.errors import ApiError

bp = Blueprint("postbacks", __name__)

# The URL template as a Flask rule: only the six providers' names route here.
RULE = PATH.format_map({"provider": f"<any({', '.join(PROVIDERS)}):provider>",
                       "token": "<token>"})


def token_tenant() -> str | None:
    """The tenant of the URL's live token (None: unknown or revoked), looked up once."""
    if "tenant_id" not in g:
        token = (request.view_args or {}).get("token", "")
        usable = 0 < len(token) <= 128 and token.isprintable()
        ttl = float(current_app.config["KEY_CACHE_SECONDS"])
        found = token_cache.cached(token, ttl) if usable else (None, [])
        g.tenant_id, g.postback_networks = found or _look_up(token)
    return g.tenant_id


def _look_up(token: str) -> Found:
    """The token looked up in the store, unless the client address has sent too many
    unknown tokens (429, before any query); an unknown one counts against the address."""
    address = request.remote_addr or ""
    wait = limits.token_failures.wait(address)
    if wait is not None:
        error = ApiError(429, "rate_limited",
                         f"Too many unknown postback tokens; retry in {wait} s.",
                         retry_after=wait)
        error.headers["Retry-After"] = str(wait)
        raise error
    found = token_cache.load(token)
    if found[0] is None:
        limits.token_failures.record(address)
    return found


def budget_tenant() -> str | None:
    """The tenant whose postback budget this request spends: none for a sender off the
    tenant's allow-list (the view refuses it), so a leaked token used from elsewhere cannot
    starve the allowed provider; such a sender spends only its address's own limit."""
    tenant_id = token_tenant()
    if tenant_id is None or not address_allowed(g.postback_networks, request.remote_addr):
        return None
    return tenant_id


def names_other_tenant(tenant_id: str) -> bool:
    """Whether the query names a tenant other than the token's (a token of another tenant)."""
    named = request.args.get("tenant_id")
    if named and named.strip().lower() != tenant_id:
        return True
    buyer = request.args.get("buyer_id")
    return bool(buyer) and not Tenant.select().where(Tenant.id == tenant_id,
                                                    Tenant.buyer_id == buyer).exists()


def read_params() -> dict[str, Any]:
    """Query parameters, overlaid by a POSTed JSON object or form, within the JSON shape."""
    found: dict[str, Any] = request.args.to_dict()
    if request.method == "POST":
        if request.mimetype in ("application/json", "text/plain") or (
                not request.mimetype and request.get_data()[:1] == b"{"):
            try:
                body = json.loads(request.get_data() or b"{}")
            except (ValueError, RecursionError):
                raise ApiError(400, "invalid_json", "The body is not a JSON object.") from None
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_json", "The body is not a JSON object.")
            found.update(body)
        else:
            found.update(request.form.to_dict())
    json_shape.check(found)
    return found


def store(row: dict[str, Any]) -> tuple[int, str]:
    """Store a postback; ``(event id, outcome)``: stored, duplicate, approved (a declined,
    pending or other conversion now approved, once) or reversed (a counted one, whatever its
    status, now declined, once)."""
    return group_commit.run(lambda: _store(row))


# A reversed conversion's mark in its properties: it changes no more.
REVERSED = "reversed"


def _store(row: dict[str, Any]) -> tuple[int, str]:
    with database.atomic():
        event_id, duplicate = prepared.insert_event(row)
        if not duplicate:
            cross_channel.settle([row], [(event_id, False)], events.default_window_ms())
            return event_id, "stored"
        if row["status"] not in ("approved", "declined"):
            return event_id, "duplicate"
        stored = (Event.select(Event.status, Event.value_hundredths, Event.currency,
                               Event.properties, Event.occurred_at_ms)
                  .where(Event.id == event_id).get())
        properties = json.loads(stored.properties) if stored.properties else {}
        if properties.get(REVERSED):
            return event_id, "duplicate"
        if row["status"] == "approved" and stored.status not in (None, "approved"):
            declined = properties.pop("declined_value", None)
            value = row["value_hundredths"]
            if value is None and declined is not None:
                value = money.hundredths(money.parse(declined))
            outcome = "approved"
        elif row["status"] == "declined" and stored.status != "declined":
            # A counted conversion (approved, pending, other or without a status) is reversed.
            if stored.value_hundredths is not None:
                properties["declined_value"] = money.text(stored.value_hundredths)
            properties[REVERSED] = True
            value = None
            outcome = "reversed"
        else:
            return event_id, "duplicate"
        # The changed event moves to the tail (received now) and leaves its hour's aggregate,
        # so figures count it once, with its new value.
        changed = (Event.update(status=row["status"], value_hundredths=value,
                                currency=row["currency"] or stored.currency,
                                properties=canonical.json_text(properties) if properties
                                else None, received_at_ms=row["received_at_ms"])
                   .where(Event.id == event_id, Event.status == stored.status).execute())
        if not changed:
            return event_id, "duplicate"
        aggregation.refresh_event(row["tenant"], stored.occurred_at_ms, row["source_type"],
                                  row["signed"])
    return event_id, outcome


class PostbackAccepted(Schema):
    """A postback's event: stored (202), a duplicate (200), or approved or reversed now (202,
    updated)."""

    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)
    updated = fields.Boolean(required=True, metadata={
        "description": "A declined, pending or other conversion was approved by this one, "
                       "or a counted one (any status but declined) declined: reversed, "
                       "once."})
    status = fields.String(allow_none=True, metadata={
        "description": "approved, pending, declined or other (RedTrack), else null."})
    time_estimated = fields.Boolean(required=True, metadata={
        "description": "No event time was sent: the receipt time stands in for it."})


def _described(**body: Any) -> dict[str, Any]:
    """The postback's operation, for GET and (with its ``requestBody``) POST."""
    return {
        "summary": "A provider's postback; the token in the path names the tenant.",
        "description": "Parameters are the provider's own (docs/postbacks.md). "
                       "Providers: " + ", ".join(f"{name} ({p.methods})"
                                                 for name, p in PROVIDERS.items()) + ". "
                       "A sender off the tenant's allow-list (403) spends only its address's "
                       "limit, never the tenant's; an address that sent too many unknown "
                       "tokens (`POSTBACK_GUESS_LIMIT`) gets 429 before any token is "
                       "looked up.",
        "tags": ["ingestion"],
        "parameters": [
            {"in": "path", "name": "provider", "required": True,
             "schema": {"type": "string", "enum": list(PROVIDERS)}},
            {"in": "path", "name": "token", "required": True, "schema": {"type": "string"},
             "description": "A live token of `tenant postback-token`."},
            *flagged_tests.PARAMETERS,
        ],
        **body,
        "responses": {
            "202": openapi.json_answer("Stored, approved now, or kept as a test event.",
                                       flagged_tests.accepted_or_test(PostbackAccepted)),
            "200": openapi.json_answer("A duplicate (stored once already).",
                                       PostbackAccepted),
            **openapi.errors(400, 401, 403, 404, 413, 429, 503),
        },
    }


@bp.route(RULE, methods=["GET", "POST"])
@openapi.operation("get", **_described())
@openapi.operation("post", **_described(requestBody={"content": {
    "application/json": {"schema": {"type": "object"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}))
@limits.ingest(SOURCE, tenant=budget_tenant)
def receive_postback(provider: str, token: str) -> ResponseReturnValue:
    if request.method == "HEAD":  # link checkers and prefetchers must not store events
        raise ApiError(405, "method_not_allowed", "Use GET or POST to send a postback.")
    tenant_id = token_tenant()
    if tenant_id is None or names_other_tenant(tenant_id):
        raise ApiError(401, "invalid_token", "The postback token is unknown or revoked.")
    if not address_allowed(g.postback_networks, request.remote_addr):
        raise ApiError(403, "address_not_allowed",
                       "This address is not on the tenant's postback allow-list.")
    g.token_verified = True  # from here a refused postback is kept as a dead letter
    params = read_params()
    g.ingest_payload = {"provider": provider, "params": params}
    test_code = flagged_tests.valid_code(params)
    row = postback_row(tenant_id, provider,
                       {k: v for k, v in params.items() if k != flagged_tests.PARAM}, clock.now())
    if test_code is not None:
        return flagged_tests.accepted(tenant_id, SOURCE, test_code, g.ingest_payload)
    event_id, outcome = store(row)
    # An approval or a reversal changed the conversion stored: accepted, as a new one is.
    (tally.duplicate if outcome == "duplicate" else tally.accepted)(tenant_id, SOURCE)
    response = jsonify(event_id=str(event_id), duplicate=outcome == "duplicate",
                       updated=outcome in ("approved", "reversed"), status=row["status"],
                       time_estimated=row["time_estimated"])
    return response, 200 if outcome == "duplicate" else 202
