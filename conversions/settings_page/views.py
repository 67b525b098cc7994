"""``/settings/system``: the Conversion Health page for people, and webhook security settings."""
from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

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
from conversions.web import rate_limits
from conversions.web.auth import is_cross_site, token_matches

log = logging.getLogger(__name__)

bp = Blueprint("settings_page", __name__, url_prefix="/settings", static_folder="static",
               template_folder="templates")
filters.register(bp)
OPEN_ENDPOINTS = {"settings_page.login", "settings_page.static"}


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
def system() -> ResponseReturnValue:
    return render_system(request.args.get("tenant_id"))


@bp.post("/system/limits")
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
