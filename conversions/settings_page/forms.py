"""The settings page's forms; Flask-WTF adds a session-bound CSRF token to each."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from conversions.core.sources import SECRET_KINDS, WATCHED
from conversions.ingest.csv_import import FORMATS
from conversions.store.database import database
from conversions.tenants import settings
from conversions.tenants.accounts import MAX_GRACE_SECONDS

# Scopes of the per-source settings: tenant-wide ("") and each source.
SCOPES = ("", *WATCHED)
# The settings with a value per source (the table's columns); the others are tenant-wide.
BY_SOURCE = [base for base in settings.SETTINGS if base not in settings.TENANT_WIDE]


def setting_name(base: str, scope: str) -> str:
    return f"{base}.{scope}" if scope else base


def field_name(base: str, scope: str) -> str:
    return f"{base}__{scope or 'all'}"


class LoginForm(FlaskForm):
    token = PasswordField("Admin token", validators=[DataRequired()])


class LogoutForm(FlaskForm):
    pass


class TenantForm(FlaskForm):
    tenant_id = HiddenField(validators=[DataRequired()])


class RotateForm(TenantForm):
    kind = SelectField("Secret",
                       choices=[SelectChoice(kind, f"{kind} secret") for kind in SECRET_KINDS])
    grace_seconds = IntegerField(
        "Old secret keeps working for (seconds)", default=86400,
        validators=[InputRequired(), NumberRange(0, MAX_GRACE_SECONDS)])


class RevokeTokenForm(TenantForm):
    token_id = HiddenField(validators=[DataRequired()])


class NetworksForm(TenantForm):
    networks = TextAreaField("Addresses postbacks may come from (CIDR ranges or addresses, "
                             "one a line; blank: any)", validators=[Optional()])


class ImportForm(TenantForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])
    format = SelectField("Format", choices=list(FORMATS))
    dry_run = BooleanField("Dry run: check and count, store nothing")
    partial = BooleanField("Store the valid rows even if others are refused")


class LimitsForm(TenantForm):
    """One text field a setting and scope (added below); blank: use the default."""


for _base in settings.SETTINGS:
    for _scope in settings.scopes(_base):
        setattr(LimitsForm, field_name(_base, _scope),
                StringField(setting_name(_base, _scope), validators=[Optional()]))


def save_settings(form: LimitsForm, tenant_id: str) -> bool:
    """Save every changed field (blank: back to the default), all or none.

    ``settings.put`` validates; its message is put on the field. Returns whether all saved.
    """
    current = settings.overrides(tenant_id)
    with database.atomic() as transaction:
        for base in settings.SETTINGS:
            for scope in settings.scopes(base):
                field = form[field_name(base, scope)]
                text, name = (field.data or "").strip(), setting_name(base, scope)
                try:
                    if not text and name in current:
                        settings.clear(tenant_id, name)
                    elif text and text != current.get(name):
                        settings.put(tenant_id, name, text)
                except ValueError as err:
                    field.errors = [*field.errors, str(err)]
        if form.errors:
            transaction.rollback()
            return False
    return True
