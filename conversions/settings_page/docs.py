"""OpenAPI descriptions of the ``/settings`` pages: HTML for people, behind a session."""
from __future__ import annotations

from typing import Any

from conversions.web.openapi import errors

_HTML = {"text/html": {"schema": {"type": "string"}}}
_REDIRECT = {"description": "Redirect (to the page, or to sign in).",
             "headers": {"Location": {"required": True, "schema": {"type": "string"}}}}
# The session of a sign-in, or the bearer token; without a token configured, loopback only.
PAGE_SECURITY = [{"settingsSession": []}, {"adminBearer": []}]
_PAGE_ERRORS = {
    "400": "The form is invalid, or has no valid CSRF token.",
    "401": "Not signed in (a POST), or the wrong token at sign-in.",
    "403": "Refused: not loopback without a token configured, or a cross-site POST.",
    "404": "No such tenant.",
    "422": "Rows of the CSV break rules and nothing was stored: the page lists every one.",
    "429": "Too many sign-in attempts.",
}


def page(summary: str, *statuses: int, redirects: bool = False,
         form: dict[str, Any] | None = None, secured: bool = True) -> dict[str, Any]:
    """An HTML page operation; refusals are pages too (JSON only for 413 and 503)."""
    responses: dict[str, Any] = {"200": {"description": "The page.", "content": _HTML}}
    if redirects:
        responses["302"] = _REDIRECT
    for status in statuses:
        responses[str(status)] = {"description": _PAGE_ERRORS[str(status)], "content": _HTML}
    responses.update(errors(503))
    operation: dict[str, Any] = {"summary": summary, "tags": ["settings page"],
                                 "responses": responses}
    if secured:
        operation["security"] = PAGE_SECURITY
    if form is not None:
        operation["requestBody"] = {"content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": form}}}}
        responses.update(errors(413))
    return operation


_CSRF = {"csrf_token": {"type": "string"}}
_TENANT = {"tenant_id": {"type": "string", "format": "uuid"}}


def _upload() -> dict[str, Any]:
    operation = page("Import a CSV of offline conversions; the page shows the result table.",
                     400, 401, 403, 404, 422, form={})
    operation["requestBody"] = {"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            **_CSRF, **_TENANT, "file": {"type": "string", "format": "binary"},
            "format": {"type": "string", "enum": ["generic", "google_ads"]},
            "dry_run": {"type": "boolean"}, "partial": {"type": "boolean"}}}}}}
    return operation


OPERATIONS: dict[str, dict[str, Any]] = {
    "settings_page.system": {"get": {
        **page("The Conversion Health page: checklist, health, stats, attribution, "
               "webhook security.", 401, 403, 404, redirects=True),
        "parameters": [{"in": "query", "name": "tenant_id", "schema": {"type": "string"},
                        "description": "The tenant shown (default: the first)."}],
    }},
    "settings_page.save_limits": {"post": page(
        "Save a tenant's freshness window and rate limits.", 400, 401, 403, 404,
        redirects=True, form={**_CSRF, **_TENANT})},
    "settings_page.rotate_secret": {"post": page(
        "Rotate a secret; the page shows the new one this once.", 400, 401, 403, 404,
        form={**_CSRF, **_TENANT, "kind": {"type": "string", "enum": ["pixel", "webhook"]},
              "grace_seconds": {"type": "integer"}})},
    "settings_page.issue_postback_token": {"post": page(
        "Issue a postback token; the page shows it and each provider's URL this once.",
        400, 401, 403, 404, form={**_CSRF, **_TENANT})},
    "settings_page.revoke_postback_token": {"post": page(
        "Revoke a postback token.", 400, 401, 403, 404, redirects=True,
        form={**_CSRF, **_TENANT, "token_id": {"type": "string"}})},
    "settings_page.save_postback_networks": {"post": page(
        "Save the addresses a tenant's postbacks may come from (blank: any).", 400, 401, 403,
        404, redirects=True, form={**_CSRF, **_TENANT, "networks": {"type": "string"}})},
    "settings_page.upload_csv": {"post": _upload()},
    "settings_page.login": {
        "get": page("The sign-in form (when a token is configured).", redirects=True,
                    secured=False),
        "post": page("Sign in with the admin token.", 400, 401, 403, 429, redirects=True,
                     form={**_CSRF, "token": {"type": "string"}}, secured=False),
    },
    "settings_page.logout": {"post": page("Sign out.", 400, 401, 403, redirects=True,
                                          form=_CSRF)},
    "settings_page.static": {"get": {
        "summary": "The page's stylesheet and images.", "tags": ["settings page"],
        "parameters": [{"in": "path", "name": "filename", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The file.",
                              "content": {"*/*": {"schema": {"type": "string"}}}},
                      "304": {"description": "Not modified."}, **errors(404)},
    }},
}
