"""The idempotency keys of stored events on PostgreSQL (``event_key``): tenant, source and key
-> event id, its primary key deciding what is a duplicate across the events' monthly
partitions (``store.partitions``). SQLite keeps the key on the event, under a unique index."""
from __future__ import annotations

from peewee import CharField, CompositeKey, ForeignKeyField, IntegerField, Tuple

from conversions.store.models import BaseModel, Event, Tenant

# The events' ids, one sequence over every month: an id names one event.
SEQUENCE = f"{Event._meta.table_name}_id_seq"


class EventKey(BaseModel):
    """The idempotency key of a stored event (PostgreSQL): the event it names."""

    tenant = ForeignKeyField(Tenant, on_delete="CASCADE", index=False)
    source_type = CharField(max_length=8)
    dedup_key = CharField(max_length=200)
    event_id = IntegerField()

    class Meta:
        primary_key = CompositeKey("tenant", "source_type", "dedup_key")


def delete_keys_of(keys: list[tuple[str, str, str | None]]) -> None:
    """Delete the keys of events just deleted, ``(tenant, source, key)`` each (None: none)."""
    keys = [key for key in keys if key[2] is not None]
    if keys:
        EventKey.delete().where(Tuple(EventKey.tenant, EventKey.source_type,
                                      EventKey.dedup_key).in_(keys)).execute()
