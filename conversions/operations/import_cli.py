"""``flask --app app import-csv FILE --domain D --format F``: the upload endpoint's import
from the command line, with a progress bar on a terminal."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from conversions.ingest import csv_import
from conversions.operations.imports import limits, refused_body, run
from conversions.store.database import connection
from conversions.tenants import accounts


@contextmanager
def progress_bar(path: str) -> Iterator[Callable[[int], None] | None]:
    """click's progress bar over the file's bytes, on standard error when it is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=os.path.getsize(path), label="importing",
                           file=sys.stderr) as bar:
        yield bar.update


@click.command("import-csv", short_help="Import offline conversions from a CSV file.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--domain", required=True, help="The tenant's domain.")
@click.option("--format", "fmt", type=click.Choice(list(csv_import.FORMATS)), required=True)
@click.option("--dry-run", is_flag=True, help="Judge and count every row; store nothing.")
@click.option("--partial", is_flag=True, help="Store the valid rows even if others are refused.")
@with_appcontext
def import_csv_command(file: str, domain: str, fmt: str, dry_run: bool, partial: bool) -> None:
    """Import offline conversions from FILE; prints the result as JSON (exit 1 if refused)."""
    try:
        with connection(), open(file, "rb") as source, progress_bar(file) as progress:
            tenant_id = accounts.id_by_domain(domain)
            result = run(source, tenant_id, fmt, limits(current_app), dry_run=dry_run,
                         partial=partial, progress=progress)
    except (csv_import.CsvError, accounts.TenantError) as err:
        raise click.ClickException(str(err)) from None
    refused = bool(result.refused and not partial)
    click.echo(json.dumps(refused_body(result, "pass --partial") if refused else result.body(),
                          indent=2))
    if refused:
        sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(import_csv_command)
