"""How this service uses the HMAC middleware: its routes, key lookups and signed content."""
from __future__ import annotations

import dataclasses
import logging
import uuid
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from flask import Flask, request
from peewee import InterfaceError, OperationalError

from conversions.core import budget, canonical, clock, sources
from conversions.ingest import limits
from conversions.ingest.pixel import PIXEL_PATH
from conversions.observability import instruments
from conversions.rollups import tally
from conversions.tenants.accounts import key_cache
from conversions.web import errors, json_shape, logs
from conversions.web.errors import ApiError
from wsgi_hmac import (
    Failure,
    HeaderHmacScheme,
    HmacMiddleware,
    KeyLookup,
    Keyring,
    Route,
    StandardWebhookScheme,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = logging.getLogger(__name__)

GOAL_PATH = "/api/v1/track/pixel/goal"
GOAL_HEADER = "X-LP-Goal-Signature"
GOAL_BODY = "conversions.goal_body"
GOAL_RENDERINGS = "conversions.goal_renderings"


def query_param(environ: WSGIEnvironment, name: str) -> str:
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[0].strip() if values else ""


def goal_keys(environ: WSGIEnvironment, fresh: bool) -> Keyring | Failure:
    """The pixel-secret keys of the tenant named by ``?domain=``."""
    domain = query_param(environ, "domain").lower()
    if not domain:
        return Failure(400, "missing_domain", "The domain query parameter is required.")
    keyring = find_keys("domain", domain, "pixel", fresh)
    if keyring is None:
        return Failure(404, "unknown_domain", "No tenant is registered for this domain.")
    return keyring


def find_keys(field: str, value: str, kind: str, fresh: bool) -> Keyring | None:
    """The tenant's keyring (None: no such tenant). A store that is down raises; every route's
    lookup is wrapped by ``store_guarded``, which answers it.

    A value no tenant can have (too long, or with control characters, which PostgreSQL
    cannot even compare) is not looked up.
    """
    if len(value) > 253 or not value.isprintable():
        return None
    return key_cache.get(field, value, kind, fresh)


def goal_content(environ: WSGIEnvironment, body: bytes, keyring: Keyring,
                 shape: budget.Shape) -> list[bytes] | Failure:
    """Every canonical rendering of the goal a reference client may have signed, for a body
    within ``shape``."""
    try:
        parsed = canonical.parse_body(body)
        budget.check_shape(parsed, shape)
    except canonical.NotJson as err:
        return Failure(400, "invalid_json", str(err))
    except budget.TooComplex as err:
        return Failure(400, json_shape.ERROR, json_shape.message(err))
    environ[GOAL_BODY] = parsed
    environ[GOAL_RENDERINGS] = canonical.renderings(parsed, keyring.tenant_id)
    return environ[GOAL_RENDERINGS]


WEBHOOK_PATH = "/api/conversions/webhook"


def webhook_keys(environ: WSGIEnvironment, fresh: bool) -> Keyring | Failure:
    """The webhook-secret keys of the tenant named by ``?tenant_id=`` or ``?buyer_id=``."""
    tenant_id = query_param(environ, "tenant_id")
    with suppress(ValueError):  # a UUID in any case or form, as the read endpoints take it
        tenant_id = str(uuid.UUID(tenant_id))
    buyer_id = query_param(environ, "buyer_id")
    if not (tenant_id or buyer_id):
        return Failure(400, "missing_tenant",
                       "The buyer_id or tenant_id query parameter is required.")
    keyring = (find_keys("id", tenant_id, "webhook", fresh) if tenant_id
               else find_keys("buyer_id", buyer_id, "webhook", fresh))
    if keyring is None:
        return Failure(404, "unknown_tenant", "No tenant is registered for this id.")
    return keyring


# The source a refusal at each path is counted under.
PATHS = {GOAL_PATH: sources.GOAL, WEBHOOK_PATH: sources.WEBHOOK, PIXEL_PATH: sources.PIXEL}


def record_rejection(environ: WSGIEnvironment, failure: Failure,
                     keyring: Keyring | None = None) -> None:
    """Count and log a refusal by a middleware (never the signature or the key)."""
    tenant_id = keyring.tenant_id if keyring else None
    if failure.error == "invalid_signature" and keyring is not None:
        limits.record_signature_failure(environ, keyring)
    instruments.refused_by_middleware(failure.error)
    source = PATHS.get(environ.get("PATH_INFO", ""))
    tally.rejected(tenant_id, source.name if source else "unknown", failure.error)
    log.info("signed request refused", extra={
        "path": logs.mask_path(environ.get("PATH_INFO", "")), "status": failure.status,
        "error": failure.error, "tenant_id": tenant_id,
    })


def routes(app: Flask) -> list[Route]:
    config = app.config
    guard = limits.signature_guard
    return [
        Route(GOAL_PATH, HeaderHmacScheme(GOAL_HEADER, name="goal", content=partial(
                  goal_content, shape=json_shape.shape(config))),
              goal_keys, max_body=int(config["GOAL_MAX_BODY"]), guard=guard),
        Route(WEBHOOK_PATH,
              StandardWebhookScheme(tolerance=float(config["WEBHOOK_TOLERANCE_SECONDS"])),
              webhook_keys, max_body=int(config["WEBHOOK_MAX_BODY"]), guard=guard),
    ]


STORE_UNAVAILABLE = Failure(503, "store_unavailable", errors.STORE_UNAVAILABLE_MESSAGE,
                            (("Retry-After", errors.RETRY_AFTER_SECONDS),))


def store_guarded(lookup: KeyLookup) -> KeyLookup:
    """``lookup``, answering 503 with Retry-After (not a bare 500) while the database is down."""

    def guarded(environ: WSGIEnvironment, fresh: bool) -> Keyring | Failure:
        try:
            return lookup(environ, fresh)
        except (OperationalError, InterfaceError) as err:
            log.warning("store unavailable", extra={"error_type": type(err).__name__})
            return STORE_UNAVAILABLE

    return guarded


def protect(app: Flask) -> HmacMiddleware:
    """The app's WSGI callable wrapped in the middleware with this service's routes."""
    key_cache.ttl = float(app.config["KEY_CACHE_SECONDS"])
    guarded = [dataclasses.replace(route, key_lookup=store_guarded(route.key_lookup))
               for route in routes(app)]
    return HmacMiddleware(app.wsgi_app, guarded, clock=clock.now, on_reject=record_rejection)


def verified_tenant() -> str:
    """The tenant the middleware verified this request for; refuses an unverified one."""
    if request.environ.get("hmac.verified") is not True:
        log.error("signed route reached without verification", extra={"path": request.path})
        raise ApiError(401, "missing_signature", "The request was not verified.")
    return request.environ["hmac.tenant_id"]
