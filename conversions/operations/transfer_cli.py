"""``flask --app app export|import``: move every tenant and event to another database."""
from __future__ import annotations

import json
import sys
from typing import IO

import click
from flask import Flask

from conversions.rollups import aggregation
from conversions.store import export, importer, private_files
from conversions.store.database import connection
from conversions.store.models import Tenant

WARNING = ("The file holds every exported tenant's signing SECRETS in clear: it is a migration "
           "tool. Keep the file private and delete it once the import is done.")


@click.command("export", help=f"""Write tenants with their signing keys, settings, events and
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


@click.command("import", help=f"""Store the rows of an export in this database. Rows keep their
ids: importing the same file again stores nothing twice. Import into a new database before it
takes traffic; a row whose id is taken here by other data stops the import with an error.

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
        raise click.ClickException(str(err)) from None
    except aggregation.AggregationBusy:
        raise click.ClickException(
            "the aggregate job kept its lock; the rows are stored: run flask --app app "
            "import again to bring the aggregates up to date") from None
    click.echo(json.dumps(counts, indent=2))


def init_app(app: Flask) -> None:
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
