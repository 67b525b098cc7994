"""The rollups' statements (``store.rollups``): the events grouped by hour, the signed goals,
and each rollup's rows read, deleted and written, those made from the rollup's model.

Parameters are named after the columns' fields (``tenant``, ``hour_start_ms``, ...) or the
bounds they are (``start_ms``, ``end_ms``, ``received_before``). On PostgreSQL a write carries
every row in one statement, each column an array (``unnest``), far cheaper than one a row.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import Field

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.store.models import (
    DailyAggregate,
    DailyAttribution,
    HourlyAggregate,
    HourlyAttribution,
    HourlyCoverage,
    SupersededEvent,
)
from conversions.store.statements import ARRAY_TYPES, Dialect, Statement, columns, quoted, table

# A report another channel's report took over (``SupersededEvent``): it counts nowhere.
SUPERSEDED = '"s"."event" IS NOT NULL'


def _hour_groups(where: Callable[[Dialect], str]) -> Statement:
    return Statement.of(lambda d: (
        f'SELECT "e"."tenant_id", "e"."occurred_at_ms" / {HOUR_MS} AS "hour", '
        '"e"."source_type", "e"."event_name", "e"."currency", '
        f'SUM(CASE WHEN {SUPERSEDED} THEN 0 ELSE 1 END), '
        f'COALESCE(SUM(CASE WHEN {SUPERSEDED} THEN 0 ELSE "e"."value_hundredths" END), 0), '
        f'COUNT("s"."event") FROM "event" AS "e" LEFT JOIN {table(SupersededEvent)} AS "s" '
        f'ON "s"."event" = "e"."id" WHERE {where(d)} '
        'GROUP BY "e"."tenant_id", "hour", "e"."source_type", "e"."event_name", "e"."currency"'))


# (tenant, hour index, source, name, currency, events, value, superseded) of a tenant's
# events in ``[start_ms, end_ms)`` of event time, received before ``received_before``;
# events and value are of the reports that count.
HOUR_GROUPS = _hour_groups(lambda d: (
    f'"e"."tenant_id" = {d.param("tenant")} AND "e"."occurred_at_ms" >= {d.param("start_ms")} '
    f'AND "e"."occurred_at_ms" < {d.param("end_ms")} '
    f'AND "e"."received_at_ms" < {d.param("received_before")}'))
# The same of every event received in ``[start_ms, end_ms)``.
RECEIVED_HOUR_GROUPS = _hour_groups(lambda d: (
    f'"e"."received_at_ms" >= {d.param("start_ms")} '
    f'AND "e"."received_at_ms" < {d.param("end_ms")}'))

# The events attribution counts (``store.rollups.COUNTED``): signed goals.
_COUNTED = '"source_type" = \'goal\' AND "signed"'
# What an attribution row is built from (``store.rollups.GOAL_FIELDS``), in this order.
_GOAL_COLUMNS = ('"occurred_at_ms", "first_touch_bucket", "currency", "value_hundredths", '
                 '"first_touch_at_ms"')
# A tenant's signed goals in ``[start_ms, end_ms)`` of event time, received before
# ``received_before``.
GOALS = Statement.of(lambda d: (
    f'SELECT {_GOAL_COLUMNS} FROM "event" WHERE "tenant_id" = {d.param("tenant")} '
    f'AND {_COUNTED} AND "occurred_at_ms" >= {d.param("start_ms")} '
    f'AND "occurred_at_ms" < {d.param("end_ms")} '
    f'AND "received_at_ms" < {d.param("received_before")}'))
# The tenant of, then the same of, every signed goal received in ``[start_ms, end_ms)``.
RECEIVED_GOALS = Statement.of(lambda d: (
    f'SELECT "tenant_id", {_GOAL_COLUMNS} FROM "event" WHERE {_COUNTED} '
    f'AND "received_at_ms" >= {d.param("start_ms")} AND "received_at_ms" < {d.param("end_ms")}'))

# A tenant's daily aggregates of ``[start_ms, end_ms)`` summed from its hourly ones.
DAYS_FROM_HOURS = Statement.of(lambda d: (
    'INSERT INTO "daily_aggregate" ("tenant_id", "day_start_ms", "source_type", "event_name", '
    '"currency", "events", "value_hundredths", "superseded") '
    f'SELECT "tenant_id", "hour_start_ms" / {DAY_MS} * {DAY_MS} AS "day", "source_type", '
    '"event_name", "currency", SUM("events"), SUM("value_hundredths"), SUM("superseded") '
    f'FROM "hourly_aggregate" WHERE "tenant_id" = {d.param("tenant")} '
    f'AND "hour_start_ms" >= {d.param("start_ms")} AND "hour_start_ms" < {d.param("end_ms")} '
    'GROUP BY "tenant_id", "day", "source_type", "event_name", "currency"'))


PERIOD: dict[Any, Field] = {
    HourlyAggregate: HourlyAggregate.hour_start_ms, DailyAggregate: DailyAggregate.day_start_ms,
    HourlyAttribution: HourlyAttribution.hour_start_ms,
    DailyAttribution: DailyAttribution.day_start_ms}
AGGREGATES = (HourlyAggregate, DailyAggregate)
ATTRIBUTIONS = (HourlyAttribution, DailyAttribution)


def row_fields(model: Any) -> tuple[Field, ...]:
    """A rollup row's fields in the model's order: the parameters of its writes."""
    return tuple(field for field in model._meta.sorted_fields if field is not model.id)


def _in_period(model: Any, d: Dialect) -> str:
    period = quoted(PERIOD[model].column_name)
    return (f'"tenant_id" = {d.param("tenant")} AND {period} >= {d.param("start_ms")} '
            f"AND {period} < {d.param('end_ms')}")


# An attribution row's columns after its period start: ``attribution_rows``' order.
_ATTRIBUTION_COLUMNS = '"bucket", "currency", "goals", "revenue_hundredths", "lag_histogram", ' \
                       '"lag_sketch"'


def _attribution_rows(model: Any, d: Dialect) -> str:
    """The tenant's rows of periods in ``[start_ms, end_ms)``, locked on PostgreSQL."""
    return (f"SELECT {quoted(PERIOD[model].column_name)}, {_ATTRIBUTION_COLUMNS} "
            f"FROM {table(model)} WHERE {_in_period(model, d)}"
            + (" FOR UPDATE" if d.postgres else ""))


def _attribution_rows_at(model: Any, d: Dialect) -> str:
    """The tenant's rows of the periods starting at ``starts`` (a list: an array on
    PostgreSQL, JSON on SQLite)."""
    period = quoted(PERIOD[model].column_name)
    head = (f"SELECT {period}, {_ATTRIBUTION_COLUMNS} FROM {table(model)} "
            f'WHERE "tenant_id" = {d.param("tenant")} AND ')
    if d.postgres:
        return head + f"{period} = ANY({d.param('starts')}::bigint[])"
    return head + f"{period} IN (SELECT value FROM json_each({d.param('starts')}))"


# What a write does to a stored row of the same key: aggregates add, attribution replaces.
_ON_CONFLICT = {
    "add": lambda t: f'"events" = {t}."events" + EXCLUDED."events", '
                     f'"value_hundredths" = {t}."value_hundredths" + EXCLUDED."value_hundredths", '
                     f'"superseded" = {t}."superseded" + EXCLUDED."superseded"',
    "coverage": lambda t: ", ".join(f'"{c}" = {t}."{c}" + EXCLUDED."{c}"' for c in (
        "server", "browser", "both", "value_mismatches")),
    "replace": lambda t: '"goals" = EXCLUDED."goals", '
                         '"revenue_hundredths" = EXCLUDED."revenue_hundredths", '
                         '"lag_histogram" = EXCLUDED."lag_histogram", '
                         '"lag_sketch" = EXCLUDED."lag_sketch"',
}


def _write(model: Any, conflict: str | None, d: Dialect) -> str:
    """Insert rows; on a row with the same key, ``conflict`` (``_ON_CONFLICT``) or fail."""
    fields = row_fields(model)
    if d.postgres:
        arrays = ", ".join(f"{d.param(f.name)}::{ARRAY_TYPES[f.field_type]}" for f in fields)
        rows = f"SELECT * FROM unnest({arrays})"
    else:
        rows = f"VALUES ({d.params(f.name for f in fields)})"
    sql = f"INSERT INTO {table(model)} ({columns(fields)}) {rows}"
    if conflict is None:
        return sql
    key = ", ".join(quoted(model._meta.fields[name].column_name)
                    for name in model._meta.indexes[0][0])
    return f"{sql} ON CONFLICT ({key}) DO UPDATE SET {_ON_CONFLICT[conflict](table(model))}"


ROLLUPS = (*AGGREGATES, *ATTRIBUTIONS)
DELETE = {m: Statement.of(lambda d, m=m: f"DELETE FROM {table(m)} WHERE {_in_period(m, d)}")
          for m in ROLLUPS}
INSERT = {m: Statement.of(lambda d, m=m: _write(m, None, d)) for m in ROLLUPS}
ADD_COUNTS = {m: Statement.of(lambda d, m=m: _write(m, "add", d)) for m in AGGREGATES}
ADD_COVERAGE = Statement.of(lambda d: _write(HourlyCoverage, "coverage", d))
PUT_ATTRIBUTION = {m: Statement.of(lambda d, m=m: _write(m, "replace", d))
                   for m in ATTRIBUTIONS}
ATTRIBUTION_ROWS = {m: Statement.of(lambda d, m=m: _attribution_rows(m, d))
                    for m in ATTRIBUTIONS}
ATTRIBUTION_ROWS_AT = {m: Statement.of(lambda d, m=m: _attribution_rows_at(m, d))
                       for m in ATTRIBUTIONS}
