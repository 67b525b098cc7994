"""``flask --app app tenant ...``: create tenants, rotate and list them."""
from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from conversions.core.sources import SECRET_KINDS
from conversions.store.database import connection
from conversions.store.models import Tenant
from conversions.tenants import accounts, postback_tokens

tenant_cli = AppGroup("tenant", help="Create, list and rotate tenants; issue postback tokens.")


def _emit(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2))


def _run(action, *args):  # type: ignore[no-untyped-def]
    try:
        with connection():
            return action(*args)
    except accounts.TenantError as err:
        raise click.ClickException(str(err)) from None


@tenant_cli.command("create")
@click.option("--domain", required=True, help="The domain goals are sent for.")
@click.option("--buyer-id", default=None, help="The buyer id pixels and webhooks name.")
def create(domain: str, buyer_id: str | None) -> None:
    """Create a tenant and print it with its secrets (shown this once)."""
    _emit(_run(accounts.create, domain, buyer_id))


@tenant_cli.command("rotate-secret")
@click.argument("tenant_id", required=False)
@click.option("--domain", default=None, help="The tenant's domain (instead of TENANT_ID).")
@click.option("--kind", type=click.Choice(SECRET_KINDS), required=True)
@click.option("--grace", type=click.IntRange(min=0), default=0,
              help="Seconds the old secret keeps verifying.")
def rotate_secret(tenant_id: str | None, domain: str | None, kind: str, grace: int) -> None:
    """Issue a new secret for the tenant named by TENANT_ID or --domain (one of the two) and
    print it (shown this once)."""
    if (tenant_id is None) == (domain is None):
        raise click.UsageError("name the tenant by TENANT_ID or by --domain (one of the two)")

    def act() -> dict:
        return accounts.rotate(tenant_id or accounts.id_by_domain(domain or ""), kind, grace)

    _emit(_run(act))


@tenant_cli.command("postback-token")
@click.option("--domain", required=True, help="The tenant's domain.")
@click.option("--revoke", "revoke", default=None, metavar="TOKEN",
              help="End this token (or token id) instead of issuing one.")
def postback_token(domain: str, revoke: str | None) -> None:
    """Issue a postback token and print it (shown this once) with each provider's URL."""
    def act() -> dict:
        tenant_id = accounts.id_by_domain(domain)
        if revoke is not None:
            return postback_tokens.revoke(tenant_id, revoke)
        return postback_tokens.issue(tenant_id, str(current_app.config["PUBLIC_URL"]))

    try:
        with connection():
            _emit(act())
    except (accounts.TenantError, postback_tokens.PostbackError) as err:
        raise click.ClickException(str(err)) from None


@tenant_cli.command("list")
def list_tenants() -> None:
    """Print every tenant, without secrets."""
    with connection():
        _emit([accounts.public(t) for t in Tenant.select().order_by(Tenant.created_at_ms)])


def init_app(app: Flask) -> None:
    app.cli.add_command(tenant_cli)
