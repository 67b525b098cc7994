"""The statements the rollups are recomputed with, rendered once per kind of database.

A catch-up runs thousands of small range queries (one a run of touched periods); building
a Peewee query costs more than SQLite takes to run it, so each statement's SQL is rendered
once (``database.rendered``) and run again with new values, as ``prepared`` does for event
inserts.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from peewee import SQL, Query, fn

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.store.database import database, rendered
from conversions.store.models import (
    DailyAggregate,
    DailyAttribution,
    Event,
    HourlyAggregate,
    HourlyAttribution,
)

# Each rollup row's fields in the model's order, the order its rendered insert names them.
HOUR_COLUMNS = tuple(f.name for f in HourlyAggregate._meta.sorted_fields
                     if f is not HourlyAggregate.id)
DAY_COLUMNS = tuple(f.name for f in DailyAttribution._meta.sorted_fields
                    if f is not DailyAttribution.id)
GOAL_HOUR_COLUMNS = tuple(f.name for f in HourlyAttribution._meta.sorted_fields
                          if f is not HourlyAttribution.id)
# The events attribution counts: signed goals only (unsigned browser hints and webhook
# events never count).
COUNTED = (Event.source_type == "goal") & (Event.signed == True)  # noqa: E712  (SQL)
# What an attribution row is built from, in this order.
GOAL_FIELDS = (Event.occurred_at_ms, Event.first_touch_bucket, Event.currency,
               Event.value_hundredths, Event.first_touch_at_ms)


def _hour_groups() -> Query:
    # Literals, not parameters: PostgreSQL must see the grouped expression as selected, and
    # the parameters are exactly those ``hour_groups`` passes.
    hour = (Event.occurred_at_ms / SQL(str(HOUR_MS))).alias("hour")
    return (Event.select(hour, Event.source_type, Event.event_name, Event.currency,
                         fn.COUNT(Event.id), fn.COALESCE(fn.SUM(Event.value_hundredths), SQL("0")))
            .where(Event.tenant == "", Event.occurred_at_ms >= 0, Event.occurred_at_ms < 0,
                   Event.received_at_ms < 0)
            .group_by(hour, Event.source_type, Event.event_name, Event.currency))


def hour_groups(tenant_id: str, first_hour: int, last_hour: int, received_before: int
                ) -> list[tuple[int, str, str, str | None, int, int]]:
    """(hour index, source, name, currency, events, value) of the tenant's events in hours
    ``first_hour..last_hour`` of event time, received before ``received_before``."""
    sql = rendered("hour_groups", _hour_groups)
    params = (tenant_id, first_hour * HOUR_MS, (last_hour + 1) * HOUR_MS, received_before)
    return database.execute_sql(sql, params).fetchall()


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


def _goal_hours() -> Query:
    rollup = HourlyAttribution
    return (rollup.select(rollup.hour_start_ms, rollup.bucket, rollup.currency, rollup.goals,
                          rollup.revenue_hundredths, rollup.lag_histogram, rollup.lag_sketch)
            .where(rollup.tenant == "", rollup.hour_start_ms >= 0, rollup.hour_start_ms < 0))


def goal_hours(tenant_id: str, first_day: int, last_day: int
               ) -> list[tuple[int, str, str, int, int | None, str, bytes | None]]:
    """The tenant's hourly attribution rows of days ``first_day..last_day``: hour start,
    bucket, currency, goals, revenue, lag histogram, lag sketch."""
    params = (tenant_id, first_day * DAY_MS, (last_day + 1) * DAY_MS)
    return database.execute_sql(rendered("goal_hours", _goal_hours), params).fetchall()


def _insert_sql(name: str, model: Any, columns: Sequence[str]) -> str:
    return rendered(name, lambda: model.insert({model._meta.fields[c]: 0 for c in columns}))


def replace_hours(tenant_id: str, first_hour: int, last_hour: int, rows: list[dict]) -> None:
    """Replace the tenant's aggregate rows of hours ``first_hour..last_hour`` with ``rows``,
    in the caller's transaction."""
    agg = HourlyAggregate
    delete = rendered("delete_hours", lambda: agg.delete().where(
        agg.tenant == "", agg.hour_start_ms >= 0, agg.hour_start_ms < 0))
    database.execute_sql(delete, (tenant_id, first_hour * HOUR_MS, (last_hour + 1) * HOUR_MS))
    _insert(_insert_sql("insert_hours", agg, HOUR_COLUMNS), HOUR_COLUMNS, rows)


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
    daily = DailyAggregate
    delete = rendered("delete_daily", lambda: daily.delete().where(
        daily.tenant == "", daily.day_start_ms >= 0, daily.day_start_ms < 0))
    bounds = (tenant_id, first_day * DAY_MS, (last_day + 1) * DAY_MS)
    database.execute_sql(delete, bounds)
    database.execute_sql(rendered("days_from_hours", _days_from_hours), bounds)


def replace_goal_hours(tenant_id: str, first_hour: int, last_hour: int, rows: list[dict]
                       ) -> None:
    """Replace the tenant's hourly attribution rows of hours ``first_hour..last_hour`` with
    ``rows``, in the caller's transaction."""
    rollup = HourlyAttribution
    delete = rendered("delete_goal_hours", lambda: rollup.delete().where(
        rollup.tenant == "", rollup.hour_start_ms >= 0, rollup.hour_start_ms < 0))
    database.execute_sql(delete, (tenant_id, first_hour * HOUR_MS, (last_hour + 1) * HOUR_MS))
    _insert(_insert_sql("insert_goal_hours", rollup, GOAL_HOUR_COLUMNS), GOAL_HOUR_COLUMNS,
            rows)


def replace_days(tenant_id: str, first_day: int, last_day: int, rows: list[dict]) -> None:
    """Replace the tenant's attribution rows of days ``first_day..last_day`` with ``rows``,
    in the caller's transaction."""
    rollup = DailyAttribution
    delete = rendered("delete_days", lambda: rollup.delete().where(
        rollup.tenant == "", rollup.day_start_ms >= 0, rollup.day_start_ms < 0))
    database.execute_sql(delete, (tenant_id, first_day * DAY_MS, (last_day + 1) * DAY_MS))
    _insert(_insert_sql("insert_days", rollup, DAY_COLUMNS), DAY_COLUMNS, rows)


def _insert(sql: str, columns: Sequence[str], rows: list[dict]) -> None:
    if rows:
        database.cursor().executemany(sql, [[row[c] for c in columns] for row in rows])
