"""Event statements rendered once per kind of database and reused by every request.

Building a Peewee query costs more than running it; the SQL of the event insert and of
the duplicate look-up depends only on the database's dialect, so it is rendered once and
executed with new parameters (the driver then reuses its prepared statement too).
"""
from __future__ import annotations

from typing import Any

from conversions.store.database import database
from conversions.store.models import Event

_COLUMNS = [field for field in Event._meta.sorted_fields if field is not Event.id]
_CONVERT = [(field.name, field.db_value) for field in _COLUMNS]
_NAMES = frozenset(name for name, _ in _CONVERT)
_NAMES_IN_ORDER = [name for name, _ in _CONVERT]
_CONVERTERS = [convert for _, convert in _CONVERT]
_PLAIN = frozenset({str, int, type(None)})
_rendered: dict[type, tuple[str, str]] = {}
_rendered_plain: dict[type, str] = {}


def _statements() -> tuple[str, str]:
    """``(insert, look-up)`` SQL for the database in use, rendered on first use."""
    kind = type(database.obj)
    if kind not in _rendered:
        template = dict.fromkeys(_NAMES)
        insert, _ = Event.insert(**template).on_conflict_ignore().returning(Event.id).sql()
        lookup, _ = (Event.select(Event.id)
                     .where(Event.tenant == "", Event.source_type == "", Event.dedup_key == "")
                     .sql())
        _rendered[kind] = (insert, lookup)
    return _rendered[kind]


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Insert ``row`` unless its dedup key is stored; ``(event id, duplicate)``.

    Runs in the caller's transaction; the unique index decides what is a duplicate.
    """
    insert, lookup = _statements()
    inserted = database.execute_sql(insert, _params(row)).fetchall()
    if inserted:
        return inserted[0][0], False
    key = (row["tenant"], row["source_type"], row["dedup_key"])
    return database.execute_sql(lookup, key).fetchall()[0][0], True


def _params(row: dict[str, Any]) -> list[Any]:
    """``row``'s values in column order; text, whole numbers and None go to the driver as
    they are, anything else is converted."""
    if not row.keys() <= _NAMES:
        raise ValueError(f"not Event fields: {sorted(row.keys() - _NAMES)}")
    return [value if type(value) in _PLAIN else convert(value)
            for value, convert in zip(map(row.get, _NAMES_IN_ORDER), _CONVERTERS, strict=True)]


def insert_new_events(rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose dedup key is not stored, in the caller's transaction; how many.

    One statement run for every row (``executemany``): for a bulk import, rendering a query
    per batch costs more than storing it.
    """
    kind = type(database.obj)
    if kind not in _rendered_plain:
        _rendered_plain[kind] = Event.insert(**dict.fromkeys(_NAMES)).on_conflict_ignore().sql()[0]
    cursor = database.cursor()
    cursor.executemany(_rendered_plain[kind], [_params(row) for row in rows])
    return cursor.rowcount
