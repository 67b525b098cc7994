"""The store's hot statements: SQL text for SQLite and for PostgreSQL, written once here with
named parameters, and run again and again as they are (building a Peewee query costs more
than running it). Everything else is a Peewee query where it is used.

Each statement is made at import by a template called once per dialect, which writes the
parameter ``name`` as ``:name`` (sqlite3) or ``%(name)s`` (psycopg); callers pass a mapping
of those names. The text is never edited after it is made.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peewee import Field, Model

from conversions.store.database import database, is_postgres


@dataclass(frozen=True)
class Dialect:
    """How a template writes a parameter and what it adds on one database."""

    postgres: bool

    def param(self, name: str) -> str:
        return f"%({name})s" if self.postgres else f":{name}"

    def params(self, names: Iterable[str]) -> str:
        """``:a, :b, ...``"""
        return ", ".join(self.param(name) for name in names)


SQLITE, POSTGRES = Dialect(postgres=False), Dialect(postgres=True)


@dataclass(frozen=True)
class Statement:
    """One statement's text on each database."""

    sqlite: str
    postgres: str

    @classmethod
    def of(cls, template: Callable[[Dialect], str]) -> Statement:
        return cls(template(SQLITE), template(POSTGRES))

    @property
    def text(self) -> str:
        """The text for the database in use."""
        return self.postgres if is_postgres() else self.sqlite

    def run(self, params: Mapping[str, Any]) -> Any:
        """Execute on the database in use; the cursor."""
        return database.execute_sql(self.text, params)

    def run_many(self, rows: Sequence[Mapping[str, Any]], **options: Any) -> Any:
        """Execute once for each of ``rows`` (``executemany``); the cursor."""
        cursor = database.cursor()
        cursor.executemany(self.text, rows, **options)
        return cursor


def quoted(name: str) -> str:
    """An identifier as both databases take it."""
    return f'"{name}"'


def table(model: type[Model]) -> str:
    return quoted(model._meta.table_name)


def columns(fields: Iterable[Field]) -> str:
    """``"a", "b", ...`` of ``fields``' columns."""
    return ", ".join(quoted(field.column_name) for field in fields)
