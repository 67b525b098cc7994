"""Event statements rendered once per kind of database (``database.rendered``) and reused
by every request.

Building a Peewee query costs more than running it; the SQL of the event insert and of
the duplicate look-up depends only on the database's dialect, so it is rendered once and
executed with new parameters (the driver then reuses its prepared statement too). A batch
is inserted by statements of many rows each, rendered once per number of rows. On
PostgreSQL a keyed event is stored with its key in ``event_key`` by one statement
(``store.partitions``); the bulk path claims the keys, then stores the events that got one.
"""
from __future__ import annotations

from typing import Any

from peewee import Query, fn

from conversions.store import partitions
from conversions.store.database import database, is_postgres, rendered
from conversions.store.models import Event, WebhookDelivery
from conversions.store.partitions import EventKey

_COLUMNS = [field for field in Event._meta.sorted_fields if field is not Event.id]
_CONVERT = [(field.name, field.db_value) for field in _COLUMNS]
_NAMES = frozenset(name for name, _ in _CONVERT)
_NAMES_IN_ORDER = [name for name, _ in _CONVERT]
_CONVERTERS = [convert for _, convert in _CONVERT]
_PLAIN = frozenset({str, int, type(None)})


def _lookup() -> Query:
    """The stored event of a key: its own table on PostgreSQL (``store.partitions``)."""
    if is_postgres():
        return EventKey.select(EventKey.event_id).where(
            EventKey.tenant == "", EventKey.source_type == "", EventKey.dedup_key == "")
    return Event.select(Event.id).where(
        Event.tenant == "", Event.source_type == "", Event.dedup_key == "")


def _statements() -> tuple[str, str]:
    """``(insert, look-up)`` SQL for the database in use, rendered on first use."""
    insert = rendered("event_insert", lambda: Event.insert(**dict.fromkeys(_NAMES))
                      .on_conflict_ignore().returning(Event.id))
    return insert, rendered("event_lookup", _lookup)


def _keyed(rows: int, given_ids: bool = False) -> str:
    """PostgreSQL: ``rows`` keyed events stored with their keys (``partitions.keyed_insert``)."""
    return rendered(f"event_insert_keyed_{rows}_{given_ids}",
                    lambda: partitions.keyed_insert(rows, given_ids))


def insert_event(row: dict[str, Any]) -> tuple[int, bool]:
    """Insert ``row`` unless its dedup key is stored; ``(event id, duplicate)``.

    Runs in the caller's transaction; the unique index (on PostgreSQL the key table's,
    ``store.partitions``) decides what is a duplicate.
    """
    insert, lookup = _statements()
    if row.get("dedup_key") is not None and is_postgres():
        insert = _keyed(1)
    inserted = database.execute_sql(insert, _params(row)).fetchall()
    if inserted:
        return inserted[0][0], False
    key = (row["tenant"], row["source_type"], row["dedup_key"])
    return database.execute_sql(lookup, key).fetchall()[0][0], True


# Rows a batch statement inserts at most: 100 rows of 17 columns stay far below every
# driver's limit on parameters (SQLite's 32,766).
CHUNK = 100
_RETURNED = (Event.id, Event.tenant, Event.source_type, Event.dedup_key)


def _multi_insert(rows: int) -> str:
    """``INSERT ... VALUES (...) x rows ... RETURNING id, tenant, source, key``."""
    if is_postgres():
        return _keyed(rows)
    return rendered(f"event_insert_{rows}", lambda: Event.insert_many(
        [dict.fromkeys(_NAMES)] * rows).on_conflict_ignore().returning(*_RETURNED))


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
    stored: dict[tuple[Any, Any, Any], int] = {}
    keyed = list(first.items())
    for start in range(0, len(keyed), CHUNK):
        chunk = keyed[start:start + CHUNK]
        params = [value for _, index in chunk for value in _params(rows[index])]
        for event_id, *key in database.execute_sql(_multi_insert(len(chunk)), params):
            stored[tuple(key)] = event_id  # type: ignore[index]
    lookup = _statements()[1]
    for key, index in keyed:
        if key in stored:
            answer[index] = (stored[key], False)
        else:
            answer[index] = (database.execute_sql(lookup, key).fetchall()[0][0], True)
    for index, row in enumerate(rows):
        if answer[index] is not None:
            continue
        key = (row["tenant"], row["source_type"], row.get("dedup_key"))
        answer[index] = (answer[first[key]][0], True) if key in first \
            else insert_event(row)  # type: ignore[index]
    return answer  # type: ignore[return-value]


_DELIVERY_FIELDS = [field.name for field in WebhookDelivery._meta.sorted_fields
                    if field is not WebhookDelivery.id]


def _delivery_statements(names: tuple[str, ...]) -> tuple[str, str]:
    """``(delete expired, insert new)`` SQL of a webhook delivery record, the insert setting
    the columns ``names``."""
    delete = rendered("delivery_delete", lambda: WebhookDelivery.delete().where(
        WebhookDelivery.tenant == "", WebhookDelivery.message_id == "",
        WebhookDelivery.received_at_ms < 0))
    insert = rendered(f"delivery_insert_{','.join(names)}", lambda: WebhookDelivery.insert(
        **dict.fromkeys(names)).on_conflict_ignore().returning(WebhookDelivery.id))
    return delete, insert


def record_delivery(delivery: dict[str, Any]) -> bool:
    """Record a webhook delivery in the caller's transaction; False when the tenant has that
    message id within the window (``window_start_ms``: older records are replaced)."""
    names = tuple(name for name in _DELIVERY_FIELDS if name in delivery)
    delete, insert = _delivery_statements(names)
    database.execute_sql(delete, (delivery["tenant"], delivery["message_id"],
                                  delivery["window_start_ms"]))
    return bool(database.execute_sql(insert, [delivery[name] for name in names]).fetchall())


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
    per batch costs more than storing it. On PostgreSQL the first row of each key claims it
    (a key statement run for every row, each returning the id it took, or nothing for a key
    stored already), then the rows that claimed one are stored under those ids.
    """
    plain = rendered("event_insert_plain",
                     lambda: Event.insert(**dict.fromkeys(_NAMES)).on_conflict_ignore())
    keyed: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    if is_postgres():
        for row in rows:
            if row.get("dedup_key") is not None:
                keyed.setdefault((row["tenant"], row["source_type"], row["dedup_key"]), row)
        rows = [row for row in rows if row.get("dedup_key") is None]
    count = 0
    cursor = database.cursor()
    if rows:
        cursor.executemany(plain, [_params(row) for row in rows])
        count += cursor.rowcount
    if keyed:
        claim = rendered("event_key_claim", lambda: EventKey.insert(
            tenant="", source_type="", dedup_key="", event_id=fn.nextval(partitions.SEQUENCE))
            .on_conflict_ignore().returning(EventKey.event_id))
        cursor.executemany(claim, [[*key, partitions.SEQUENCE] for key in keyed], returning=True)
        claimed = []
        for row in keyed.values():
            taken = cursor.fetchone()
            if taken is not None:
                claimed.append([taken[0], *_params(row)])
            cursor.nextset()
        with_id = rendered("event_insert_with_id", lambda: Event.insert(
            id=0, **dict.fromkeys(_NAMES)))
        if claimed:
            cursor.executemany(with_id, claimed)
            count += len(claimed)
    return count


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
                  for value in [row["id"], *_params({k: v for k, v in row.items() if k != "id"})]]
        stored.update(event_id for event_id, *_ in database.execute_sql(
            _keyed(len(chunk), given_ids=True), params))
    return stored
