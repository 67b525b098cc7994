"""Reading the events the rollups are made of, and writing the rollups' rows: the
statements of ``store.statements.rollups``, run again with new values (a catch-up runs
thousands of them)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.store.database import is_postgres
from conversions.store.models import (
    DailyAggregate,
    Event,
    HourlyAggregate,
    HourlyAttribution,
    HourlyCoverage,
)
from conversions.store.statements import Statement
from conversions.store.statements import rollups as sql

# The events attribution counts: signed goals only (unsigned browser hints and webhook
# events never count). Written in SQL too, for the job (``store.statements.rollups``).
COUNTED = (Event.source_type == "goal") & (Event.signed == True)  # noqa: E712  (SQL)
# What an attribution row is built from, in this order.
GOAL_FIELDS = (Event.occurred_at_ms, Event.first_touch_bucket, Event.currency,
               Event.value_hundredths, Event.first_touch_at_ms)

HourGroup = tuple[str, int, str, str, str | None, int, int, int]
Goal = tuple[int, str | None, str | None, int | None, int | None]
AttributionRow = tuple[int, str, str, int, int | None, str, bytes | None]


def hour_groups(tenant_id: str, first_hour: int, last_hour: int, received_before: int
                ) -> list[HourGroup]:
    """(tenant, hour index, source, name, currency, events, value, superseded) of the
    tenant's events in hours ``first_hour..last_hour`` of event time, received before
    ``received_before`` (events and value of the reports that count)."""
    return sql.HOUR_GROUPS.run({
        "tenant": tenant_id, "start_ms": first_hour * HOUR_MS,
        "end_ms": (last_hour + 1) * HOUR_MS, "received_before": received_before}).fetchall()


def received_hour_groups(start_ms: int, end_ms: int) -> list[HourGroup]:
    """``hour_groups``' tuples of every event received in ``[start_ms, end_ms)``."""
    return sql.RECEIVED_HOUR_GROUPS.run({"start_ms": start_ms, "end_ms": end_ms}).fetchall()


def goals(tenant_id: str, first_hour: int, last_hour: int, received_before: int
          ) -> Iterable[Goal]:
    """``GOAL_FIELDS`` of the tenant's signed goals in hours ``first_hour..last_hour`` of
    event time, received before ``received_before``."""
    return sql.GOALS.run({  # type: ignore[no-any-return]
        "tenant": tenant_id, "start_ms": first_hour * HOUR_MS,
        "end_ms": (last_hour + 1) * HOUR_MS, "received_before": received_before})


def received_goals(start_ms: int, end_ms: int
                   ) -> list[tuple[str, int, str | None, str | None, int | None, int | None]]:
    """The tenant and ``GOAL_FIELDS`` of every signed goal received in
    ``[start_ms, end_ms)``."""
    return sql.RECEIVED_GOALS.run({"start_ms": start_ms, "end_ms": end_ms}).fetchall()


def attribution_rows(model: Any, tenant_id: str, start_ms: int, end_ms: int
                     ) -> list[AttributionRow]:
    """The tenant's attribution rows (``HourlyAttribution`` or ``DailyAttribution``) of
    periods starting in ``[start_ms, end_ms)``: period start, bucket, currency, goals,
    revenue, lag histogram, lag sketch. Locked for the caller's transaction on PostgreSQL."""
    return sql.ATTRIBUTION_ROWS[model].run(
        {"tenant": tenant_id, "start_ms": start_ms, "end_ms": end_ms}).fetchall()


def attribution_rows_at(model: Any, tenant_id: str, starts: Iterable[int]
                        ) -> list[AttributionRow]:
    """``attribution_rows``' tuples of the tenant's periods starting at ``starts``: one
    query however scattered they are (a list parameter: an array on PostgreSQL, JSON on
    SQLite)."""
    listed = sorted(set(starts))
    return sql.ATTRIBUTION_ROWS_AT[model].run({
        "tenant": tenant_id, "starts": listed if is_postgres() else json.dumps(listed)
    }).fetchall()


def _write(statement: Statement, model: Any, rows: Sequence[dict]) -> None:
    """Run a write of ``rows`` (each a rollup row by field name): one statement of arrays
    on PostgreSQL, one run a row on SQLite."""
    if not rows:
        return
    if is_postgres():
        statement.run({field.name: [row[field.name] for row in rows]
                       for field in sql.row_fields(model)})
    elif len(rows) == 1:  # a pixel's coverage: a plain run costs less than ``executemany``
        statement.run(rows[0])
    else:
        statement.run_many(rows)


def replace(model: Any, tenant_id: str, first: int, last: int, rows: list[dict]) -> None:
    """Replace the tenant's rows of periods ``first..last`` (indexes of the rollup's period:
    hours or days) with ``rows``, in the caller's transaction."""
    size = HOUR_MS if model in (HourlyAggregate, HourlyAttribution) else DAY_MS
    sql.DELETE[model].run({"tenant": tenant_id, "start_ms": first * size,
                           "end_ms": (last + 1) * size})
    _write(sql.INSERT[model], model, rows)


def sum_days(tenant_id: str, first_day: int, last_day: int) -> None:
    """Rebuild the tenant's daily aggregates of days ``first_day..last_day`` from their
    hourly ones, in the caller's transaction."""
    bounds = {"tenant": tenant_id, "start_ms": first_day * DAY_MS,
              "end_ms": (last_day + 1) * DAY_MS}
    sql.DELETE[DailyAggregate].run(bounds)
    sql.DAYS_FROM_HOURS.run(bounds)


def add_counts(model: Any, rows: Sequence[dict]) -> None:
    """Add the events and value of ``rows`` to the aggregate rows (``HourlyAggregate`` or
    ``DailyAggregate``) of the same key, or insert them, in the caller's transaction."""
    _write(sql.ADD_COUNTS[model], model, rows)


def add_coverage(rows: Sequence[dict]) -> None:
    """Add the counts of ``rows`` to the ``HourlyCoverage`` rows of the same key, or insert
    them, in the caller's transaction."""
    _write(sql.ADD_COVERAGE, HourlyCoverage, rows)


def put_attribution(model: Any, rows: Sequence[dict]) -> None:
    """Write attribution rows over those of the same key, in the caller's transaction."""
    _write(sql.PUT_ATTRIBUTION[model], model, rows)
