"""``/settings/system``: the Conversion Health page for people, and webhook security settings."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue

from conversions.core.sources import SECRET_KINDS
from conversions.ingest import csv_import
from conversions.operations import imports
from conversions.settings_page import access, filters, system_status
from conversions.settings_page.forms import (
    BY_SOURCE,
    SCOPES,
    ImportForm,
    LimitsForm,
    LoginForm,
    LogoutForm,
    NetworksForm,
    RevokeTokenForm,
    RotateForm,
    TenantForm,
    field_name,
    save_settings,
    setting_name,
)
from conversions.store.models import Tenant
from conversions.tenants import accounts, postback_tokens, settings
from conversions.web import openapi, rate_limits
from conversions.web.auth import is_cross_site, token_matches

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("settings_page", __name__, url_prefix="/settings", template_folder="templates")
filters.register(bp)
OPEN_ENDPOINTS = {"settings_page.login", "settings_page.static"}
STATIC = Path(__file__).parent / "static"

_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGE_ERRORS = {
    400: "The form is invalid, or has no valid CSRF token.",
    401: "Not signed in (a POST), or the wrong token at sign-in.",
    403: "Refused: not loopback without a token configured, or a cross-site POST.",
    404: "No such tenant.",
    422: "Rows of the CSV break rules and nothing was stored: the page lists every one.",
    429: "Too many sign-in attempts.",
}
_CSRF = {"csrf_token": {"type": "string"}}
_TENANT = {"tenant_id": {"type": "string", "format": "uuid"}}


def page(method: str, summary: str, *statuses: int, redirects: bool = False,
         form: dict[str, Any] | None = None, secured: bool = True,
         **fields: Any) -> Callable[[F], F]:
    """Describe a page's ``method`` (``openapi.operation``): HTML for people, its refusals
    pages too (JSON only for 413 and 503); ``secured``: behind the session or the token
    (without a token configured, loopback only); ``form``: the properties of its form."""
    responses: dict[str, Any] = {"200": {"description": "The page.", "content": _HTML}}
    if redirects:
        responses["302"] = {"description": "Redirect (to the page, or to sign in).",
                            "headers": {"Location": {"required": True,
                                                     "schema": {"type": "string"}}}}
    for status in statuses:
        responses[str(status)] = {"description": _PAGE_ERRORS[status], "content": _HTML}
    responses.update(openapi.errors(503))
    if form is not None:
        fields.setdefault("requestBody", {"content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": form}}}})
        responses.update(openapi.errors(413))
    if secured:
        fields["security"] = [{"settingsSession": []}, {"adminBearer": []}]
    return openapi.operation(method, summary=summary, tags=["settings page"],
                             responses=responses, **fields)


@bp.get("/static/<path:filename>")
@openapi.operation(
    "get", summary="The page's stylesheet and images.", tags=["settings page"],
    parameters=[{"in": "path", "name": "filename", "required": True,
                 "schema": {"type": "string"}}],
    responses={"200": {"description": "The file.",
                       "content": {"*/*": {"schema": {"type": "string"}}}},
               "304": {"description": "Not modified."}, **openapi.errors(404)})
def static(filename: str) -> Response:
    return send_from_directory(STATIC, filename,
                               max_age=current_app.get_send_file_max_age(filename))


def refused(status: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("settings/refused.html", title=title, message=message), status


@bp.before_request
def guard() -> ResponseReturnValue | None:
    if request.method == "POST" and is_cross_site():  # sign-in included
        return refused(403, "Refused", "Cross-site requests may not change anything.")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    state = access.access()
    if state == access.LOGIN:
        if request.method == "GET":
            return redirect(url_for(".login"))
        return refused(401, "Sign in first", "Your session has ended: sign in again.")
    if state == access.FORBIDDEN:
        return refused(403, "Refused", "No admin token is configured, so this page answers "
                       "only on the loopback address (set CONVERSIONS_ADMIN_TOKEN).")
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def too_many_sign_ins(_limit: object) -> Response:
    page = render_template("settings/refused.html", title="Too many attempts",
                           message="Too many sign-in attempts; wait a minute and try again.")
    return Response(page, 429, {"Retry-After": "60"})


@bp.route("/login", methods=["GET", "POST"])
@page("get", "The sign-in form (when a token is configured).", redirects=True, secured=False)
@page("post", "Sign in with the admin token.", 400, 401, 403, 429, redirects=True,
      form={**_CSRF, "token": {"type": "string"}}, secured=False)
@rate_limits.limit(lambda: str(current_app.config["SETTINGS_LOGIN_RATE_LIMIT"]),
                  methods=["POST"], on_breach=too_many_sign_ins)
def login() -> ResponseReturnValue:
    if not access.token_required():
        return redirect(url_for(".system"))
    form = LoginForm()
    if form.validate_on_submit():
        if token_matches(form.token.data or ""):
            access.open_session()
            return redirect(url_for(".system"))
        log.warning("settings sign-in refused", extra={"remote_addr": request.remote_addr})
        form.token.errors.append("That is not the admin token.")
    status = 401 if request.method == "POST" else 200
    return render_template("settings/login.html", form=form), status


@bp.post("/logout")
@page("post", "Sign out.", 400, 401, 403, redirects=True, form=_CSRF)
def logout() -> ResponseReturnValue:
    if not LogoutForm().validate_on_submit():
        return forged()
    access.end_sessions()
    return redirect(url_for(".login" if access.token_required() else ".system"))


def forged() -> ResponseReturnValue:
    return refused(400, "Form refused", "The form had no valid security token (it may have "
                   "expired). Reload the page and try again.")


def render_system(tenant_id: str | None, status: int = 200, **forms: Any) -> ResponseReturnValue:
    """The page for ``tenant_id`` (default: the first tenant), with the given forms (and a
    rotated ``new_secret``)."""
    every = list(Tenant.select().order_by(Tenant.domain))
    chosen = next((t for t in every if t.id == tenant_id), None if tenant_id else
                  (every[0] if every else None))
    if tenant_id and chosen is None:
        status = 404
    view = system_status.for_tenant(chosen, request.host_url) if chosen else None
    if chosen is not None and "limits" not in forms:
        current = settings.overrides(chosen.id)
        forms["limits"] = LimitsForm(formdata=None, tenant_id=chosen.id, **{
            field_name(base, scope): current.get(setting_name(base, scope), "")
            for base in settings.SETTINGS for scope in settings.scopes(base)})
    chosen_id = chosen.id if chosen else ""
    forms.setdefault("rotate", RotateForm(formdata=None, tenant_id=chosen_id))
    forms.setdefault("issue", TenantForm(formdata=None, tenant_id=chosen_id))
    forms.setdefault("revoke", RevokeTokenForm(formdata=None, tenant_id=chosen_id))
    networks = "\n".join(view["postbacks"]["networks"]) if view else ""
    forms.setdefault("networks", NetworksForm(formdata=None, tenant_id=chosen_id,
                                              networks=networks))
    forms.setdefault("upload", ImportForm(formdata=None, tenant_id=chosen_id))
    return render_template("settings/system.html", tenants=every, tenant=chosen, view=view,
                           logout=LogoutForm() if access.token_required() else None,
                           scopes=SCOPES, field_name=field_name,
                           setting_names=BY_SOURCE, missing=tenant_id
                           if status == 404 else None, **forms), status


@bp.get("/system")
@page("get", "The Conversion Health page: checklist, health, stats, attribution, webhook "
      "security.", 401, 403, 404, redirects=True,
      parameters=[{"in": "query", "name": "tenant_id", "schema": {"type": "string"},
                   "description": "The tenant shown (default: the first)."}])
def system() -> ResponseReturnValue:
    return render_system(request.args.get("tenant_id"))


@bp.post("/system/limits")
@page("post", "Save a tenant's freshness window and rate limits.", 400, 401, 403, 404,
      redirects=True, form={**_CSRF, **_TENANT})
def save_limits() -> ResponseReturnValue:
    form = LimitsForm()
    if not form.validate_on_submit():  # every setting field is optional: CSRF or tenant
        return forged()
    tenant_id = form.tenant_id.data
    if Tenant.get_or_none(Tenant.id == tenant_id) is None:
        return render_system(tenant_id)
    if not save_settings(form, tenant_id):
        return render_system(tenant_id, 400, limits=form)
    log.info("tenant settings changed", extra={"tenant_id": tenant_id})
    flash("Settings saved; the service uses them from now on.")
    return redirect(url_for(".system", tenant_id=tenant_id, _anchor="security"))


@bp.post("/system/rotate")
@page("post", "Rotate a secret; the page shows the new one this once.", 400, 401, 403, 404,
      form={**_CSRF, **_TENANT, "kind": {"type": "string", "enum": list(SECRET_KINDS)},
            "grace_seconds": {"type": "integer"}})
def rotate_secret() -> ResponseReturnValue:
    form = RotateForm()
    valid = form.validate_on_submit()
    if form.csrf_token.errors or not form.tenant_id.data:
        return forged()
    if not valid:
        return render_system(form.tenant_id.data, 400, rotate=form)
    try:
        rotated = accounts.rotate(form.tenant_id.data, form.kind.data, form.grace_seconds.data)
    except accounts.TenantError as err:
        form.kind.errors = [str(err)]
        return render_system(form.tenant_id.data, 400, rotate=form)
    log.info("secret rotated", extra={"tenant_id": form.tenant_id.data, "kind": form.kind.data,
                                      "grace_seconds": form.grace_seconds.data})
    # Shown in this one response only: not stored, not logged, not put in the session.
    new_secret = {"kind": form.kind.data, "value": rotated[f"{form.kind.data}_secret"],
                  "previous_valid_until_ms": rotated["previous_valid_until_ms"]}
    return render_system(form.tenant_id.data, rotate=RotateForm(
        formdata=None, tenant_id=form.tenant_id.data), new_secret=new_secret)


def checked(form: TenantForm, name: str) -> ResponseReturnValue | None:
    """None when ``form`` is valid for a known tenant, else the answer: a forged form's
    refusal, the unknown tenant's page, or the page with the form's errors (as ``name``)."""
    valid = form.validate_on_submit()
    if form.csrf_token.errors or not form.tenant_id.data:
        return forged()
    if Tenant.get_or_none(Tenant.id == form.tenant_id.data) is None:
        return render_system(form.tenant_id.data)
    return None if valid else render_system(form.tenant_id.data, 400, **{name: form})


@bp.post("/system/postback-token")
@page("post", "Issue a postback token; the page shows it and each provider's URL this once.",
      400, 401, 403, 404, form={**_CSRF, **_TENANT})
def issue_postback_token() -> ResponseReturnValue:
    form = TenantForm()
    refusal = checked(form, "issue")
    if refusal is not None:
        return refusal
    # Shown in this one response only, like a rotated secret.
    issued = postback_tokens.issue(form.tenant_id.data, request.host_url)
    log.info("postback token issued", extra={"tenant_id": form.tenant_id.data,
                                             "token_id": issued["token_id"]})
    return render_system(form.tenant_id.data, new_postback=issued)


@bp.post("/system/postback-token/revoke")
@page("post", "Revoke a postback token.", 400, 401, 403, 404, redirects=True,
      form={**_CSRF, **_TENANT, "token_id": {"type": "string"}})
def revoke_postback_token() -> ResponseReturnValue:
    form = RevokeTokenForm()
    refusal = checked(form, "revoke")
    if refusal is not None:
        return refusal
    try:
        postback_tokens.revoke(form.tenant_id.data, form.token_id.data)
    except postback_tokens.PostbackError as err:
        flash(str(err))
    else:
        log.info("postback token revoked", extra={"tenant_id": form.tenant_id.data,
                                                  "token_id": form.token_id.data})
        flash("Token revoked: postbacks with it are refused from now on.")
    return redirect(url_for(".system", tenant_id=form.tenant_id.data, _anchor="postbacks"))


@bp.post("/system/postback-networks")
@page("post", "Save the addresses a tenant's postbacks may come from (blank: any).", 400, 401,
      403, 404, redirects=True, form={**_CSRF, **_TENANT, "networks": {"type": "string"}})
def save_postback_networks() -> ResponseReturnValue:
    form = NetworksForm()
    refusal = checked(form, "networks")
    if refusal is not None:
        return refusal
    try:
        saved = postback_tokens.set_networks(form.tenant_id.data, form.networks.data or "")
    except postback_tokens.PostbackError as err:
        form.networks.errors = [str(err)]
        return render_system(form.tenant_id.data, 400, networks=form)
    flash(f"Allow-list saved: {', '.join(saved)}." if saved
          else "Allow-list cleared: postbacks are taken from any address.")
    return redirect(url_for(".system", tenant_id=form.tenant_id.data, _anchor="postbacks"))


@bp.post("/system/import")
@page("post", "Import a CSV of offline conversions; the page shows the result table.",
      400, 401, 403, 404, 422, form={}, requestBody={"content": {"multipart/form-data": {
          "schema": {"type": "object", "required": ["file"], "properties": {
              **_CSRF, **_TENANT, "file": {"type": "string", "format": "binary"},
              "format": {"type": "string", "enum": list(csv_import.FORMATS)},
              "dry_run": {"type": "boolean"}, "partial": {"type": "boolean"}}}}}})
def upload_csv() -> ResponseReturnValue:
    form = ImportForm()
    refusal = checked(form, "upload")
    if refusal is not None:
        return refusal
    tenant_id = form.tenant_id.data
    try:
        result = imports.run(form.file.data.stream, tenant_id, form.format.data,
                             imports.limits(current_app), dry_run=form.dry_run.data,
                             partial=form.partial.data)
    except csv_import.CsvError as err:
        form.file.errors = [str(err)]
        return render_system(tenant_id, 400, upload=form)
    refused = bool(result.refused and not form.partial.data)
    log.info("csv imported", extra={"tenant_id": tenant_id, "inserted": result.inserted,
                                    "refused": result.refused, "dry_run": result.dry_run})
    return render_system(tenant_id, 422 if refused else 200, upload=form,
                         import_result={**result.body(), "stored_nothing": refused})
