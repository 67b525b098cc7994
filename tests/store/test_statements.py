"""The hot statements: a name for each placeholder, the same names on both databases."""
from __future__ import annotations

import re

import pytest

from conversions.store.models import Event
from conversions.store.statements import (
    Dialect,
    Statement,
    claims,
    events,
    generations,
    rollups,
)

STATEMENTS = {
    f"{module.__name__.rsplit('.', 1)[1]}.{name}{'' if key is None else '.' + key.__name__}":
        statement
    for module in (claims, events, generations, rollups)
    for name, value in vars(module).items() if name.isupper()
    for key, statement in (value.items() if isinstance(value, dict) else [(None, value)])
    if isinstance(statement, Statement)
}


def test_there_are_statements_to_check():
    assert len(STATEMENTS) > 20


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_a_statement_takes_the_same_named_parameters_on_both_databases(name):
    statement = STATEMENTS[name]
    assert statement.sqlite.names == statement.postgres.names
    assert statement.sqlite.sql.count("?") == len(statement.sqlite.names)
    assert statement.postgres.sql.count("%s") == len(statement.postgres.names)
    assert "%" not in statement.sqlite.sql
    assert "?" not in statement.postgres.sql


def test_an_event_insert_takes_every_field_but_the_id_in_the_models_order():
    fields = tuple(f.name for f in Event._meta.sorted_fields if f is not Event.id)
    assert fields == events.NAMES
    for statement in (events.EVENT_INSERT, events.EVENT_INSERT_PLAIN):
        assert statement.sqlite.names == fields
    assert events.EVENT_INSERT_WITH_ID.postgres.names == ("id", *fields)


class Marked(Dialect):
    """Writes each parameter's name where its placeholder goes."""

    def param(self, name: str) -> str:
        super().param(name)
        return f"<<{name}>>"


@pytest.mark.parametrize("name", sorted(STATEMENTS))
@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgres"])
def test_a_statement_names_its_parameters_in_the_order_of_its_text(name, postgres):
    statement = STATEMENTS[name]
    marked = Marked(postgres)
    text = statement.template(marked)
    assert tuple(re.findall(r"<<(\w+)>>", text)) == tuple(marked.names)
    assert tuple(marked.names) == (statement.postgres if postgres else statement.sqlite).names
