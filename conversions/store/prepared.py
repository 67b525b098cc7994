"""Event writes: the statements of ``store.statements.events`` run with each row's values.

A batch is inserted by statements of many rows each. On PostgreSQL a keyed event is stored
with its key in ``event_key`` by one statement (``store.event_keys``); the bulk path claims
the keys, then stores the events that got one.
"""
from __future__ import annotations

from typing import Any

from conversions.store.database import database, is_postgres
from conversions.store.models import Event
from conversions.store.statements import events as sql

_CONVERTERS = [field.db_value for field in sql.EVENT_FIELDS]
_NAMES = frozenset(sql.NAMES)
_PLAIN = frozenset({str, int, type(None)})


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Insert ``row`` unless its dedup key is stored; ``(event id, duplicate)``.

    Runs in the caller's transaction; the unique index (on PostgreSQL the key table's,
    ``store.event_keys``) decides what is a duplicate.
    """
    values = _values(row)
    if row.get("dedup_key") is not None and is_postgres():
        inserted = database.execute_sql(sql.postgres_keyed_insert(1), values).fetchall()
    else:
        inserted = sql.EVENT_INSERT.run_values(values).fetchall()
    if inserted:
        return inserted[0][0], False
    return _stored_id(row["tenant"], row["source_type"], row["dedup_key"]), True


def _stored_id(tenant_id: str, source_type: str, dedup_key: str) -> int:
    """The id of the event stored under a key."""
    key = {"tenant": tenant_id, "source_type": source_type, "dedup_key": dedup_key}
    return int(sql.EVENT_LOOKUP.run(key).fetchall()[0][0])


# Rows a batch statement inserts at most: 100 rows of 17 columns stay far below every
# driver's limit on parameters (SQLite's 32,766).
CHUNK = 100


def _multi_insert(rows: int) -> str:
    """``rows`` events but those whose key is stored, returning ``id, tenant, source, key``."""
    return sql.postgres_keyed_insert(rows) if is_postgres() else sql.sqlite_insert_rows(rows)


def insert_events(rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Insert each row unless its dedup key is stored (or an earlier row of ``rows`` has
    it); ``(event id, duplicate)`` per row, in order. Runs in the caller's transaction.

    Keyed rows go in key order (so two overlapping batches take the unique index's locks
    in one order and cannot deadlock), ``CHUNK`` rows a statement; each statement returns
    the rows it stored, and a key it did not store is looked up. Rows without a key, which
    can never be duplicates, follow one by one.
    """
    answer: list[tuple[int, bool] | None] = [None] * len(rows)
    first: dict[tuple[Any, Any, Any], int] = {}  # a key -> the index of its first row
    for index in sorted((i for i, row in enumerate(rows) if row.get("dedup_key") is not None),
                        key=lambda i: (rows[i]["dedup_key"], i)):
        row = rows[index]
        first.setdefault((row["tenant"], row["source_type"], row["dedup_key"]), index)
    keyed = list(first.items())
    stored = _insert_keyed([rows[index] for _, index in keyed])
    for key, index in keyed:
        if key in stored:
            answer[index] = (stored[key], False)
        else:
            answer[index] = (_stored_id(*key), True)
    for index, row in enumerate(rows):
        if answer[index] is not None:
            continue
        key = (row["tenant"], row["source_type"], row.get("dedup_key"))
        answer[index] = (answer[first[key]][0], True) if key in first \
            else insert_event(row)  # type: ignore[index]
    return answer  # type: ignore[return-value]


def _insert_keyed(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any, Any], int]:
    """Insert each of ``rows`` (their keys distinct) unless its key is stored,
    ``CHUNK`` rows a statement; the event id of each key stored, by key."""
    stored: dict[tuple[Any, Any, Any], int] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        params = [value for row in chunk for value in _values(row)]
        for event_id, *key in database.execute_sql(_multi_insert(len(chunk)), params):
            stored[tuple(key)] = event_id  # type: ignore[index]
    return stored


def record_delivery(delivery: dict[str, Any]) -> bool:
    """Record a webhook delivery (``tenant``, ``message_id``, ``received_at_ms``,
    ``event_count``) in the caller's transaction; False when the tenant has that message id
    within the window (``window_start_ms``: older records are replaced)."""
    sql.DELIVERY_DELETE.run(delivery)
    return bool(sql.DELIVERY_INSERT.run(delivery).fetchall())


def _values(row: dict[str, Any]) -> list[Any]:
    """``row``'s values in ``NAMES`` order; text, whole numbers and None go to the driver as
    they are, anything else is converted."""
    if not row.keys() <= _NAMES:
        raise ValueError(f"not Event fields: {sorted(row.keys() - _NAMES)}")
    return [value if type(value) in _PLAIN else convert(value)
            for value, convert in zip(map(row.get, sql.NAMES), _CONVERTERS, strict=True)]


# Rows stored, each with its event id.
Stored = list[tuple[dict[str, Any], int]]


def insert_new_events(rows: list[dict[str, Any]]) -> tuple[int, Stored]:
    """Insert the rows whose dedup key is not stored, in the caller's transaction; how many,
    and each row with a key stored, with its event id (what settlement needs, with no lookup).

    Rows without a key: one statement run for every row (``executemany``). Keyed rows, in
    their order (a history's ids follow its receive times): on PostgreSQL the first row of
    each key claims it (a key statement run for every row, pipelined, each returning the id
    it took, or nothing for a key stored already), then the rows that claimed one are stored
    under those ids; on SQLite, ``CHUNK`` rows a statement returning those stored.
    """
    keyed: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    plain = []
    for row in rows:
        if row.get("dedup_key") is None:
            plain.append(row)
        else:
            keyed.setdefault((row["tenant"], row["source_type"], row["dedup_key"]), row)
    count = sql.EVENT_INSERT_PLAIN.run_many_values(
        [_values(row) for row in plain]).rowcount if plain else 0
    if not is_postgres():
        ids = _insert_keyed(list(keyed.values()))
        stored: Stored = [(row, ids[key]) for key, row in keyed.items() if key in ids]
        return count + len(stored), stored
    cursor = sql.EVENT_KEY_CLAIM.run_many(keyed.values(), returning=True)
    stored = []
    for row in keyed.values():
        taken = cursor.fetchone()
        if taken is not None:
            stored.append((row, taken[0]))
        cursor.nextset()
    if stored:
        sql.EVENT_INSERT_WITH_ID.run_many_values(
            [[event_id, *_values(row)] for row, event_id in stored])
    return count + len(stored), stored


def insert_with_ids(rows: list[dict[str, Any]]) -> set[int]:
    """PostgreSQL: store exported events under their own ids (``rows`` of every field), but
    those whose id is here already or whose key is stored; returns the ids stored."""
    here = {event_id for (event_id,) in Event.select(Event.id).where(
        Event.id.in_([row["id"] for row in rows])).tuples()}
    keyed: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    plain = []
    for row in rows:
        if row["id"] in here:
            continue
        if row.get("dedup_key") is None:
            plain.append(row)
        else:
            keyed.setdefault((row["tenant"], row["source_type"], row["dedup_key"]), row)
    stored = {event_id for (event_id,) in Event.insert_many(plain).returning(Event.id)
              .tuples().execute()} if plain else set()
    keyed_rows = list(keyed.values())
    for start in range(0, len(keyed_rows), CHUNK):
        chunk = keyed_rows[start:start + CHUNK]
        params = [value for row in chunk
                  for value in [row["id"], *_values({k: v for k, v in row.items() if k != "id"})]]
        stored.update(event_id for event_id, *_ in database.execute_sql(
            sql.postgres_keyed_insert(len(chunk), given_ids=True), params))
    return stored
