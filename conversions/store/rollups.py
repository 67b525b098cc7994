"""The statements the rollups are kept with, rendered once per kind of database.

A catch-up runs thousands of small queries; building a Peewee query costs more than SQLite
takes to run it, so each statement's SQL is rendered once (``database.rendered``) and run
again with new values, as ``prepared`` does for event inserts.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from peewee import EXCLUDED, SQL, Field, Query, fn

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.store.database import database, is_postgres, rendered
from conversions.store.models import (
    DailyAggregate,
    DailyAttribution,
    Event,
    HourlyAggregate,
    HourlyAttribution,
)

# The events attribution counts: signed goals only (unsigned browser hints and webhook
# events never count).
COUNTED = (Event.source_type == "goal") & (Event.signed == True)  # noqa: E712  (SQL)
# What an attribution row is built from, in this order.
GOAL_FIELDS = (Event.occurred_at_ms, Event.first_touch_bucket, Event.currency,
               Event.value_hundredths, Event.first_touch_at_ms)
# Each rollup's period column.
PERIOD = {HourlyAggregate: HourlyAggregate.hour_start_ms,
          DailyAggregate: DailyAggregate.day_start_ms,
          HourlyAttribution: HourlyAttribution.hour_start_ms,
          DailyAttribution: DailyAttribution.day_start_ms}


def columns(model: Any) -> tuple[str, ...]:
    """A rollup row's fields in the model's order, the order its rendered inserts name them."""
    return tuple(f.name for f in model._meta.sorted_fields if f is not model.id)


def _key(model: Any) -> list[Field]:
    """The fields of the rollup's unique key: tenant, period, and what the period splits by."""
    return [model._meta.fields[name] for name in model._meta.indexes[0][0]]


def _hour_groups(received_in_batch: bool) -> Query:
    # Literals, not parameters: PostgreSQL must see the grouped expression as selected, and
    # the parameters are exactly those the callers pass.
    hour = (Event.occurred_at_ms / SQL(str(HOUR_MS))).alias("hour")
    if received_in_batch:
        where = (Event.received_at_ms >= 0, Event.received_at_ms < 0)
    else:
        where = (Event.tenant == "", Event.occurred_at_ms >= 0, Event.occurred_at_ms < 0,
                 Event.received_at_ms < 0)
    return (Event.select(Event.tenant, hour, Event.source_type, Event.event_name,
                         Event.currency, fn.COUNT(Event.id),
                         fn.COALESCE(fn.SUM(Event.value_hundredths), SQL("0")))
            .where(*where)
            .group_by(Event.tenant, hour, Event.source_type, Event.event_name, Event.currency))


def hour_groups(tenant_id: str, first_hour: int, last_hour: int, received_before: int
                ) -> list[tuple[str, int, str, str, str | None, int, int]]:
    """(tenant, hour index, source, name, currency, events, value) of the tenant's events in
    hours ``first_hour..last_hour`` of event time, received before ``received_before``."""
    sql = rendered("hour_groups", lambda: _hour_groups(False))
    params = (tenant_id, first_hour * HOUR_MS, (last_hour + 1) * HOUR_MS, received_before)
    return database.execute_sql(sql, params).fetchall()


def received_hour_groups(start_ms: int, end_ms: int
                         ) -> list[tuple[str, int, str, str, str | None, int, int]]:
    """``hour_groups``' tuples of every event received in ``[start_ms, end_ms)``."""
    sql = rendered("received_hour_groups", lambda: _hour_groups(True))
    return database.execute_sql(sql, (start_ms, end_ms)).fetchall()


def _goals() -> Query:
    return (Event.select(*GOAL_FIELDS)
            .where(Event.tenant == "", COUNTED, Event.occurred_at_ms >= 0,
                   Event.occurred_at_ms < 0, Event.received_at_ms < 0))


def goals(tenant_id: str, first_hour: int, last_hour: int, received_before: int
          ) -> Iterable[tuple[int, str | None, str | None, int | None, int | None]]:
    """``GOAL_FIELDS`` of the tenant's signed goals in hours ``first_hour..last_hour`` of
    event time, received before ``received_before``."""
    params = (tenant_id, "goal", True, first_hour * HOUR_MS, (last_hour + 1) * HOUR_MS,
              received_before)
    return database.execute_sql(rendered("goals", _goals), params)


def received_goals(start_ms: int, end_ms: int
                   ) -> list[tuple[str, int, str | None, str | None, int | None, int | None]]:
    """The tenant and ``GOAL_FIELDS`` of every signed goal received in
    ``[start_ms, end_ms)``."""
    sql = rendered("received_goals", lambda: Event.select(Event.tenant, *GOAL_FIELDS).where(
        COUNTED, Event.received_at_ms >= 0, Event.received_at_ms < 0))
    return database.execute_sql(sql, ("goal", True, start_ms, end_ms)).fetchall()


def attribution_rows(model: Any, tenant_id: str, start_ms: int, end_ms: int
                     ) -> list[tuple[int, str, str, int, int | None, str, bytes | None]]:
    """The tenant's attribution rows (``HourlyAttribution`` or ``DailyAttribution``) of
    periods starting in ``[start_ms, end_ms)``: period start, bucket, currency, goals,
    revenue, lag histogram, lag sketch. Locked for the caller's transaction on PostgreSQL."""
    def build() -> Query:
        period = PERIOD[model]
        query = (model.select(period, *_attribution_fields(model))
                 .where(model.tenant == "", period >= 0, period < 0))
        return query.for_update() if database.for_update else query

    sql = rendered(f"rows_{model._meta.table_name}", build)
    return database.execute_sql(sql, (tenant_id, start_ms, end_ms)).fetchall()


def _attribution_fields(model: Any) -> tuple[Field, ...]:
    """An attribution row's fields after its period start, in ``attribution_rows``' order."""
    return (model.bucket, model.currency, model.goals, model.revenue_hundredths,
            model.lag_histogram, model.lag_sketch)


def attribution_rows_at(model: Any, tenant_id: str, starts: Iterable[int]
                        ) -> list[tuple[int, str, str, int, int | None, str, bytes | None]]:
    """``attribution_rows``' tuples of the tenant's periods starting at ``starts``: one
    query however scattered they are (a list parameter: an array on PostgreSQL, JSON on
    SQLite)."""
    listed = sorted(set(starts))

    def build() -> Query:
        period = PERIOD[model]
        if is_postgres():
            among = period == fn.ANY(SQL("%s::bigint[]", [[]]))
        else:
            among = period << SQL("(SELECT value FROM json_each(?))", ["[]"])
        return model.select(period, *_attribution_fields(model)).where(model.tenant == "",
                                                                        among)

    sql = rendered(f"rows_at_{model._meta.table_name}", build)
    return database.execute_sql(
        sql, (tenant_id, listed if is_postgres() else json.dumps(listed))).fetchall()


def _delete(model: Any, tenant_id: str, start_ms: int, end_ms: int) -> None:
    period = PERIOD[model]
    sql = rendered(f"delete_{model._meta.table_name}", lambda: model.delete().where(
        model.tenant == "", period >= 0, period < 0))
    database.execute_sql(sql, (tenant_id, start_ms, end_ms))


# PostgreSQL's array type for each kind of rollup column: its inserts carry every row in
# one statement, a column an array (``unnest``), far cheaper than a statement a row.
_ARRAY_TYPES = {"VARCHAR": "text[]", "TEXT": "text[]", "BIGINT": "bigint[]", "BLOB": "bytea[]"}


def _insert_sql(model: Any, update: dict | None) -> str:
    names = columns(model)

    def build() -> Query:
        query = model.insert({model._meta.fields[name]: 0 for name in names}).returning()
        return query.on_conflict(conflict_target=_key(model), update=update) if update \
            else query

    kind = "upsert" if update else "new"
    sql = rendered(f"insert_{model._meta.table_name}_{kind}", build)
    if not is_postgres():
        return sql
    values = "VALUES (" + ", ".join(["%s"] * len(names)) + ")"
    arrays = ", ".join(f"%s::{_ARRAY_TYPES[model._meta.fields[name].field_type]}"
                       for name in names)
    return sql.replace(values, f"SELECT * FROM unnest({arrays})", 1)  # noqa: S608 (types)


def _insert(model: Any, rows: list[dict], update: dict | None = None) -> None:
    """Insert ``rows``; on a row with the same key, ``update`` it (SET field: expression)."""
    if not rows:
        return
    names = columns(model)
    sql = _insert_sql(model, update)
    if is_postgres():
        database.execute_sql(sql, [[row[name] for row in rows] for name in names])
    else:
        database.cursor().executemany(sql, [[row[name] for name in names] for row in rows])


def replace(model: Any, tenant_id: str, first: int, last: int, rows: list[dict]) -> None:
    """Replace the tenant's rows of periods ``first..last`` (indexes of the rollup's period:
    hours or days) with ``rows``, in the caller's transaction."""
    size = HOUR_MS if model in (HourlyAggregate, HourlyAttribution) else DAY_MS
    _delete(model, tenant_id, first * size, (last + 1) * size)
    _insert(model, rows)


def _days_from_hours() -> Query:
    agg = HourlyAggregate
    day = (agg.hour_start_ms / SQL(str(DAY_MS)) * SQL(str(DAY_MS))).alias("day")
    summed = (agg.select(agg.tenant, day, agg.source_type, agg.event_name, agg.currency,
                         fn.SUM(agg.events), fn.SUM(agg.value_hundredths))
              .where(agg.tenant == "", agg.hour_start_ms >= 0, agg.hour_start_ms < 0)
              .group_by(agg.tenant, day, agg.source_type, agg.event_name, agg.currency))
    daily = DailyAggregate
    return daily.insert_from(summed, [daily.tenant, daily.day_start_ms, daily.source_type,
                                      daily.event_name, daily.currency, daily.events,
                                      daily.value_hundredths])


def sum_days(tenant_id: str, first_day: int, last_day: int) -> None:
    """Rebuild the tenant's daily aggregates of days ``first_day..last_day`` from their
    hourly ones, in the caller's transaction."""
    bounds = (tenant_id, first_day * DAY_MS, (last_day + 1) * DAY_MS)
    _delete(DailyAggregate, *bounds)
    database.execute_sql(rendered("days_from_hours", _days_from_hours), bounds)


def add_counts(model: Any, rows: Sequence[dict]) -> None:
    """Add the events and value of ``rows`` to the aggregate rows (``HourlyAggregate`` or
    ``DailyAggregate``) of the same key, or insert them, in the caller's transaction."""
    _insert(model, list(rows), {model.events: model.events + EXCLUDED.events,
                                model.value_hundredths: (model.value_hundredths
                                                         + EXCLUDED.value_hundredths)})


def put_attribution(model: Any, rows: Sequence[dict]) -> None:
    """Write attribution rows over those of the same key, in the caller's transaction."""
    _insert(model, list(rows), {getattr(model, name): getattr(EXCLUDED, name)
                                for name in ("goals", "revenue_hundredths", "lag_histogram",
                                             "lag_sketch")})
