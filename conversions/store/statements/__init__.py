"""The store's hot statements: SQL text for SQLite and for PostgreSQL, written once here, each
parameter named where its placeholder is written, never edited after (building a Peewee query
costs more than running it; everything else is a Peewee query where it is used).

A template runs once per dialect at import; ``Dialect.param(name)`` records the names in the
order of the text, so callers pass a mapping (``run``) or, on the hottest path, values in
``names`` order (docs/performance.md says why they are bound by position).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peewee import Field, Model

from conversions.store.database import database, is_postgres


class Dialect:
    """What a template writes on one database, and the parameters it wrote, in order."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.names: list[str] = []

    def param(self, name: str) -> str:
        """A placeholder for parameter ``name``."""
        self.names.append(name)
        return "%s" if self.postgres else "?"

    def params(self, names: Iterable[str]) -> str:
        """``?, ?, ...`` of ``names``."""
        return ", ".join(self.param(name) for name in names)


@dataclass(frozen=True)
class Text:
    """A statement's SQL on one database, and its parameters' names in placeholder order."""

    sql: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One statement's text on each database."""

    sqlite: Text
    postgres: Text
    # What wrote them: it must name the parameters in the order they appear in the text.
    template: Callable[[Dialect], str]

    @classmethod
    def of(cls, template: Callable[[Dialect], str]) -> Statement:
        texts = []
        for dialect in (Dialect(postgres=False), Dialect(postgres=True)):
            sql = template(dialect)
            texts.append(Text(sql, tuple(dialect.names)))
        return cls(*texts, template)

    @property
    def text(self) -> Text:
        """The text for the database in use."""
        return self.postgres if is_postgres() else self.sqlite

    def run(self, params: Mapping[str, Any]) -> Any:
        """Execute on the database in use with the parameters ``params`` names; the cursor."""
        text = self.text
        return database.execute_sql(text.sql, [params[name] for name in text.names])

    def run_values(self, values: Sequence[Any]) -> Any:
        """Execute with the parameters' values in ``names`` order; the cursor."""
        return database.execute_sql(self.text.sql, values)

    def run_many(self, rows: Iterable[Mapping[str, Any]], **options: Any) -> Any:
        """Execute once for each of ``rows`` (``executemany``); the cursor."""
        names = self.text.names
        return self.run_many_values([[row[name] for name in names] for row in rows], **options)

    def run_many_values(self, rows: Sequence[Sequence[Any]], **options: Any) -> Any:
        """``run_many`` of rows of values in ``names`` order."""
        cursor = database.cursor()
        cursor.executemany(self.text.sql, rows, **options)
        return cursor


# PostgreSQL's array type of each kind of column (Peewee's ``field_type``): a statement that
# writes many rows at once takes each column's values as one array (``unnest``).
ARRAY_TYPES = {"VARCHAR": "text[]", "TEXT": "text[]", "BIGINT": "bigint[]", "BLOB": "bytea[]",
               "BOOL": "boolean[]"}


def quoted(name: str) -> str:
    """An identifier as both databases take it."""
    return f'"{name}"'


def table(model: type[Model]) -> str:
    return quoted(model._meta.table_name)


def columns(fields: Iterable[Field]) -> str:
    """``"a", "b", ...`` of ``fields``' columns."""
    return ", ".join(quoted(field.column_name) for field in fields)
