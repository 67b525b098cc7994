"""``flask --app app transfer export|import``: move every tenant and event to another
database. Not the CSV import of offline conversions (``import-csv``): the old names
``export`` and ``import`` only say which command was meant."""
from __future__ import annotations

import json
import sys
from typing import IO

import click
from flask import Flask
from flask.cli import AppGroup

from conversions.rollups import aggregation
from conversions.store import export, importer, private_files
from conversions.store.database import connection
from conversions.store.models import Tenant

CSV_IMPORT = ("a CSV of offline conversions goes to: flask --app app import-csv FILE "
              "--domain D --format generic|google_ads")
WARNING = ("The file holds every exported tenant's signing SECRETS in clear: it is a migration "
           "tool. Keep the file private and delete it once the import is done.")


transfer_cli = AppGroup(
    "transfer", short_help="Move tenants and events to another database (JSON lines).",
    help="Move every tenant, key, setting and event to another database (e.g. SQLite to "
         f"PostgreSQL) as JSON lines. Not for CSV files: {CSV_IMPORT}.")


@transfer_cli.command("export", help=f"""Write tenants with their signing keys, settings, events and
webhook deliveries as JSON lines, to move them to another database (e.g. SQLite to PostgreSQL).

WARNING: {WARNING}""")
@click.option("--out", "out", default="-",
              help="The file to write, created mode 0600 (default: standard output).")
@click.option("--tenant", "tenant_id", default=None, help="Export only this tenant.")
def export_command(out: str, tenant_id: str | None) -> None:
    with connection():
        if tenant_id is not None and Tenant.get_or_none(Tenant.id == tenant_id) is None:
            raise click.ClickException(f"no tenant {tenant_id}")
        if out == "-":
            counts = export.export(sys.stdout, tenant_id)
        else:
            try:
                file = private_files.open_private(out)
            except OSError as err:
                raise click.ClickException(f"cannot write {out}: {err.strerror}") from None
            with file:
                counts = export.export(file, tenant_id)
    click.echo(f"exported {json.dumps(counts)}", err=True)
    click.echo(f"WARNING: {WARNING}", err=True)


@transfer_cli.command("import", help=f"""Store the rows of an export in this database. Rows keep
their ids: importing the same file again stores nothing twice. Import into a new database
before it takes traffic; a row whose id is taken here by other data stops the import with an error.

WARNING: {WARNING}""")
@click.option("--in", "source", type=click.File("r", encoding="utf-8"), default="-",
              help="The export to read (default: standard input).")
def import_command(source: IO[str]) -> None:
    try:
        with connection():
            counts, earliest_received_ms = importer.import_(source)
            if earliest_received_ms is not None:
                aggregation.aggregate_received_since(earliest_received_ms)
    except export.TransferError as err:
        hint = f" (this reads a transfer export; {CSV_IMPORT})" if str(err).startswith(
            "line 1 ") else ""
        raise click.ClickException(f"{err}{hint}") from None
    except aggregation.AggregationBusy:
        raise click.ClickException(
            "the aggregate job kept its lock; the rows are stored: run flask --app app "
            "transfer import again to bring the aggregates up to date") from None
    click.echo(json.dumps(counts, indent=2))


def moved(name: str) -> click.Command:
    """The old top-level ``name``, hidden: it says which command was meant and fails."""

    @click.command(name, hidden=True, add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def old() -> None:
        raise click.UsageError(f"'flask {name}' is now 'flask --app app transfer {name}' "
                               f"(a whole database, as JSON lines); {CSV_IMPORT}")

    return old


def init_app(app: Flask) -> None:
    app.cli.add_command(transfer_cli)
    for name in ("export", "import"):
        app.cli.add_command(moved(name))
