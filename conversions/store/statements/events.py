"""The event writes' statements (``store.prepared``).

An event's parameters are named after its fields, every field but ``id``; a statement of many
rows takes its values by position, each row's in ``EVENT_FIELDS``' order, one statement per
number of rows, made on first use. On PostgreSQL the event's key goes to ``event_key``
(``store.event_keys``) in the same statement.
"""
from __future__ import annotations

from functools import cache

from peewee import Field

from conversions.store.event_keys import SEQUENCE, EventKey
from conversions.store.models import Event, WebhookDelivery
from conversions.store.statements import Dialect, Statement, columns, quoted, table

EVENT_FIELDS = tuple(field for field in Event._meta.sorted_fields if field is not Event.id)
NAMES = tuple(field.name for field in EVENT_FIELDS)
_KEY = (Event.tenant, Event.source_type, Event.dedup_key)


def _insert(d: Dialect) -> str:
    """An event unless its key is stored (SQLite: ``OR IGNORE``, as Peewee writes it)."""
    verb = "INSERT" if d.postgres else "INSERT OR IGNORE"
    tail = " ON CONFLICT DO NOTHING" if d.postgres else ""
    return (f"{verb} INTO {table(Event)} ({columns(EVENT_FIELDS)}) "
            f"VALUES ({d.params(NAMES)}){tail}")


# Run with the values of ``NAMES`` in order (``Statement.run_values``).
EVENT_INSERT = Statement.of(lambda d: _insert(d) + f" RETURNING {quoted('id')}")
# The bulk path's (``executemany``): nothing returned.
EVENT_INSERT_PLAIN = Statement.of(_insert)
# PostgreSQL's bulk path: an event under the id its key claimed (``id``, then ``NAMES``).
EVENT_INSERT_WITH_ID = Statement.of(
    lambda d: f"INSERT INTO {table(Event)} ({quoted('id')}, {columns(EVENT_FIELDS)}) "
              f"VALUES ({d.params(('id', *NAMES))})")
# PostgreSQL's bulk path: a key claims the next id, or returns nothing if it is stored.
EVENT_KEY_CLAIM = Statement.of(
    lambda d: f"INSERT INTO {table(EventKey)} ({columns(_KEY)}, {quoted('event_id')}) "
              f"VALUES ({d.params(('tenant', 'source_type', 'dedup_key'))}, "
              f"nextval('{SEQUENCE}')) ON CONFLICT DO NOTHING RETURNING {quoted('event_id')}")


def _lookup(d: Dialect) -> str:
    """The stored event of a key: its own table on PostgreSQL."""
    model, ident = (EventKey, "event_id") if d.postgres else (Event, "id")
    return (f"SELECT {quoted(ident)} FROM {table(model)} WHERE "
            f"{quoted('tenant_id')} = {d.param('tenant')} AND "
            f"{quoted('source_type')} = {d.param('source_type')} AND "
            f"{quoted('dedup_key')} = {d.param('dedup_key')}")


EVENT_LOOKUP = Statement.of(_lookup)

_DELIVERY = (WebhookDelivery.tenant, WebhookDelivery.message_id,
             WebhookDelivery.received_at_ms, WebhookDelivery.event_count)
# A webhook delivery's record, once its expired one is gone.
DELIVERY_DELETE = Statement.of(
    lambda d: f"DELETE FROM {table(WebhookDelivery)} WHERE "
              f"{quoted('tenant_id')} = {d.param('tenant')} AND "
              f"{quoted('message_id')} = {d.param('message_id')} AND "
              f"{quoted('received_at_ms')} < {d.param('window_start_ms')}")
DELIVERY_INSERT = Statement.of(
    lambda d: f"{'INSERT' if d.postgres else 'INSERT OR IGNORE'} INTO "
              f"{table(WebhookDelivery)} ({columns(_DELIVERY)}) "
              f"VALUES ({d.params(field.name for field in _DELIVERY)})"
              f"{' ON CONFLICT DO NOTHING' if d.postgres else ''} RETURNING {quoted('id')}")


@cache
def sqlite_insert_rows(rows: int) -> str:
    """SQLite: ``rows`` events but those whose key is stored; returns ``id, tenant, source,
    key`` of each stored."""
    values = "(" + ", ".join(["?"] * len(NAMES)) + ")"
    return (f"INSERT OR IGNORE INTO {table(Event)} ({columns(EVENT_FIELDS)}) "
            f"VALUES {', '.join([values] * rows)} "
            f"RETURNING {quoted('id')}, {columns(_KEY)}")


@cache
def postgres_keyed_insert(rows: int, given_ids: bool = False) -> str:
    """PostgreSQL: ``rows`` events whose keys are all distinct: each key not stored yet is
    stored with the next id (``given_ids``: the row's own), then its event under that id;
    a row whose key is stored already stores nothing. Returns ``id, tenant, source, key``
    of each event stored.

    The first row's values are cast to their columns' types, which the others take: a
    ``VALUES`` list takes none from where its rows go. (Casting them all would make the
    statement several times longer, and the driver splits it for parameters on each run.)
    """
    names = [quoted(field.column_name) for field in EVENT_FIELDS]
    types = [_postgres_type(field) for field in EVENT_FIELDS]
    ident = quoted("id")
    values = [ident, *names] if given_ids else names
    types = ["INTEGER", *types] if given_ids else types
    typed = "(" + ", ".join(f"CAST(%s AS {kind})" for kind in types) + ")"
    plain = "(" + ", ".join(["%s"] * len(types)) + ")"
    key = columns(_KEY)
    event_id = ident if given_ids else f"nextval('{SEQUENCE}')"
    rows_sql = ", ".join([typed] + [plain] * (rows - 1))
    return (f"WITH v ({', '.join(values)}) AS (VALUES {rows_sql}), "
            f"k AS (INSERT INTO {table(EventKey)} ({key}, {quoted('event_id')}) "
            f"SELECT {key}, {event_id} FROM v "
            f"ON CONFLICT DO NOTHING RETURNING {key}, {quoted('event_id')}) "
            f"INSERT INTO {table(Event)} ({ident}, {', '.join(names)}) "
            f"SELECT k.{quoted('event_id')}, {', '.join('v.' + c for c in names)} "
            f"FROM v JOIN k USING ({key}) RETURNING {ident}, {key}")


# PostgreSQL's column type of each kind of event field (Peewee's ``field_type``).
_POSTGRES_TYPES = {"VARCHAR": "VARCHAR", "BOOL": "BOOLEAN", "BIGINT": "BIGINT", "TEXT": "TEXT"}


def _postgres_type(field: Field) -> str:
    """The field's column type as its table declares it (``VARCHAR(64)``)."""
    kind = _POSTGRES_TYPES[field.field_type]
    if kind != "VARCHAR":
        return kind
    return f"{kind}({getattr(field, 'rel_field', field).max_length})"
