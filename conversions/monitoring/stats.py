"""``GET /api/conversions/stats`` (events by source type and period) and
``GET /api/conversions/metrics`` (conversions by period for the optimizer, JSON or CSV).
Both are exact up to now: aggregates plus the not-yet-aggregated tail."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from conversions.core.csv_cells import csv_text
from conversions.core.periods import iso
from conversions.rollups import figures
from conversions.web import openapi, params
from conversions.web.auth import admin_required
from conversions.web.openapi import IsoInstant, json_answer

bp = Blueprint("stats", __name__)


def stats(tenant_id: str, start_ms: int, end_ms: int, granularity: str,
          source_type: str | None = None) -> dict[str, Any]:
    """Reports received, how many of them were superseded, and the value of those that count
    per currency, by source type and period (periods with events only), over
    ``[start_ms, end_ms)`` in whole periods of event time."""
    buckets = figures.by_period(tenant_id, start_ms, end_ms, granularity, source_type,
                                by_name=False)
    return {"series": figures.rollup(buckets, granularity, ("source_type",), received=True),
            "from": iso(start_ms), "to": iso(end_ms), "granularity": granularity}


def metrics(tenant_id: str, start_ms: int, end_ms: int, granularity: str,
            group_by: str | None = None, source_type: str | None = None,
            by_currency: bool = False) -> dict[str, Any]:
    """Conversions and value per currency by period (and ``group_by`` when given);
    ``by_currency``: one row per currency too, as the CSV has it."""
    by = ((group_by,) if group_by else ()) + (("currency",) if by_currency else ())
    buckets = figures.by_period(tenant_id, start_ms, end_ms, granularity, source_type,
                                by_name=group_by == "event_name")
    return {"tenant_id": tenant_id, "from": iso(start_ms), "to": iso(end_ms),
            "granularity": granularity, "group_by": group_by, "source_type": source_type,
            "series": figures.rollup(buckets, granularity, by, count_name="conversions")}


def metrics_csv(figures_: dict[str, Any]) -> str:
    """The by-currency metrics as CSV: period_start[,event_name],currency,conversions,value
    (an event name a spreadsheet would run as a formula is defused, ``csv_cells``)."""
    columns = ["period_start"] + ([figures_["group_by"]] if figures_["group_by"] else [])
    header = [*columns, "currency", "conversions", "value"]
    return csv_text([header, *([*(row[c] for c in columns), row["currency"], row["conversions"],
                                row["value"].get(row["currency"], "")]
                               for row in figures_["series"])])


_VALUES = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                      metadata={"description": "Value sums by currency, two decimals."})


class StatsRow(Schema):
    period_start = IsoInstant(required=True)
    source_type = fields.String(required=True)
    events = fields.Integer(required=True, metadata={"description": "Reports received."})
    superseded = fields.Integer(required=True, metadata={
        "description": "Of those, reports another channel's report of the same conversion "
                       "took over (a pixel after or before its server's report): they count "
                       "nowhere."})
    value = _VALUES


class Stats(Schema):
    series = fields.List(fields.Nested(StatsRow), required=True)
    from_ = IsoInstant(required=True, data_key="from")
    to = IsoInstant(required=True)
    granularity = fields.String(required=True)


class StatsQuery(params.Query):
    tenant_id = params.tenant_id()
    granularity = params.granularity()
    from_ = params.Instant("Start (ISO-8601 or Unix seconds), widened to a whole period.",
                           data_key="from")
    to = params.Instant("End (default now), widened to a whole period.")
    source_type = params.source_type()


@bp.get("/api/conversions/stats")
@openapi.operation(
    "get", query=StatsQuery, tags=["figures"],
    summary="Reports received by source type and period, how many another channel's report "
            "of the same conversion superseded, and the value of those that count.",
    responses={"200": json_answer("Stats.", Stats), **openapi.errors(400, 404, 503)})
@admin_required
def stats_view() -> ResponseReturnValue:
    query = params.load(StatsQuery)
    granularity = query.get("granularity", "hour")
    start, end = params.period_range(query, granularity)
    return jsonify(stats(query["tenant_id"], start, end, granularity, query.get("source_type")))


class MetricsRow(Schema):
    period_start = IsoInstant(required=True)
    event_name = fields.String(metadata={"description": "With group_by=event_name."})
    conversions = fields.Integer(required=True)
    value = _VALUES


class Metrics(Schema):
    tenant_id = fields.String(required=True)
    from_ = IsoInstant(required=True, data_key="from")
    to = IsoInstant(required=True)
    granularity = fields.String(required=True)
    group_by = fields.String(required=True, allow_none=True)
    source_type = fields.String(required=True, allow_none=True)
    series = fields.List(fields.Nested(MetricsRow), required=True)


class MetricsQuery(StatsQuery):
    group_by = params.Choice("Also by this field.", ("event_name",))
    format = params.Choice("Answer format.", ("json", "csv"))


@bp.get("/api/conversions/metrics")
@openapi.operation(
    "get", query=MetricsQuery, tags=["figures"],
    summary="Conversions by period for the optimizer (JSON or CSV).",
    responses={"200": {"description": "Conversions by period.", "content": {
        "application/json": {"schema": Metrics}, "text/csv": {"schema": {"type": "string"}}}},
        **openapi.errors(400, 404, 503)})
@admin_required
def metrics_view() -> ResponseReturnValue:
    query = params.load(MetricsQuery)
    tenant_id, granularity = query["tenant_id"], query.get("granularity", "hour")
    start, end = params.period_range(query, granularity)
    group_by, source_type = query.get("group_by"), query.get("source_type")
    if query.get("format", "json") == "json":
        return jsonify(metrics(tenant_id, start, end, granularity, group_by, source_type))
    body = metrics_csv(metrics(tenant_id, start, end, granularity, group_by, source_type,
                               by_currency=True))
    day = iso(start)[:10]  # type: ignore[index]
    name = f"conversions-{tenant_id[:8]}-{granularity}-{day}.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
