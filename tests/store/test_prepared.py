"""Prepared event inserts: a batch's many-row statements store and answer exactly what one
insert a row would."""
from __future__ import annotations

import random

from conversions.store import prepared
from conversions.store.database import connection, database
from conversions.store.models import Event
from conversions.tenants import accounts


def row(tenant_id: str, key: str | None, source: str = "webhook") -> dict:
    return {"tenant": tenant_id, "source_type": source, "signed": True, "event_name": "purchase",
            "occurred_at_ms": 1, "received_at_ms": 1, "dedup_key": key}


def one_at_a_time(rows: list[dict]) -> list[tuple[int, bool]]:
    """The reference: each row by the one-row insert, keyed rows first in key order."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["dedup_key"] is None,
                                                    rows[i]["dedup_key"] or "", i))
    answer: list = [None] * len(rows)
    for index in order:
        answer[index] = prepared.insert_event(rows[index])
    return answer


def shape(answer: list[tuple[int, bool]], before: set[int]) -> list[tuple[object, bool]]:
    """The answer with new ids named by the first row told them: runs are comparable."""
    names: dict[int, object] = {}
    for index, (event_id, _) in enumerate(answer):
        names.setdefault(event_id, event_id if event_id in before else f"new-{index}")
    return [(names[event_id], duplicate) for event_id, duplicate in answer]


def stored_now() -> list[tuple]:
    return sorted((e.tenant_id, e.source_type, e.dedup_key or "") for e in Event.select())


def test_batches_store_and_answer_as_one_insert_a_row_would(app, tenant):
    other = accounts.create("other.example.com", "other-buyer")["tenant_id"]
    tenants = [tenant["tenant_id"], other]
    generator = random.Random(15)
    with connection():
        prepared.insert_events([row(t, f"id:stored-{n}") for t in tenants for n in range(5)])
        before = {event.id for event in Event.select()}
        for size in [1, 2, 3, 7, prepared.CHUNK - 1, prepared.CHUNK, prepared.CHUNK + 1,
                     2 * prepared.CHUNK + 5] + [generator.randint(1, 250) for _ in range(20)]:
            keys = [None, *(f"id:stored-{n}" for n in range(7)),
                    *(f"id:{size}-{n}" for n in range(size // 2 + 1))]
            rows = [row(generator.choice(tenants), generator.choice(keys),
                        generator.choice(["webhook", "webhook", "pixel"]))
                    for _ in range(size)]
            with database.atomic() as reference:
                expected = shape(one_at_a_time(rows), before)
                expected_rows = stored_now()
                reference.rollback()
            with database.atomic() as batch:
                assert shape(prepared.insert_events(rows), before) == expected
                assert stored_now() == expected_rows
                batch.rollback()
