"""The settings page's forms; Flask-WTF adds a session-bound CSRF token to each."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from conversions.models import SECRET_KINDS, SOURCE_TYPES

MAX_GRACE_SECONDS = 30 * 86400
# Scopes of a setting: tenant-wide ("") and each source; field name -> setting name.
SCOPES = ("", *SOURCE_TYPES)


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


class LimitsForm(TenantForm):
    """One text field a setting and scope (added below); blank: use the default."""


for _base in ("freshness_window_seconds", "rate_limit"):
    for _scope in SCOPES:
        setattr(LimitsForm, field_name(_base, _scope),
                StringField(setting_name(_base, _scope), validators=[Optional()]))
