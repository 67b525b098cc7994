"""``GET /api/conversions/stats`` (events by source type and period) and
``GET /api/conversions/metrics`` (conversions by period for the optimizer, JSON or CSV).
Both are exact up to now: aggregates plus the not-yet-aggregated tail."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from conversions.core.csv_cells import csv_text
from conversions.core.periods import iso
from conversions.rollups import figures
from conversions.web import params
from conversions.web.auth import admin_required

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


@bp.get("/api/conversions/stats")
@admin_required
def stats_view() -> ResponseReturnValue:
    tenant_id: str = params.tenant_id()  # type: ignore[assignment]
    granularity = params.granularity()
    start, end = params.period_range(granularity)
    return jsonify(stats(tenant_id, start, end, granularity, params.source_type()))


@bp.get("/api/conversions/metrics")
@admin_required
def metrics_view() -> ResponseReturnValue:
    tenant_id: str = params.tenant_id()  # type: ignore[assignment]
    granularity = params.granularity()
    start, end = params.period_range(granularity)
    group_by = params.choice("group_by", ("event_name",), None)
    source_type = params.source_type()
    if params.choice("format", ("json", "csv"), "json") == "json":
        return jsonify(metrics(tenant_id, start, end, granularity, group_by, source_type))
    body = metrics_csv(metrics(tenant_id, start, end, granularity, group_by, source_type,
                               by_currency=True))
    day = iso(start)[:10]  # type: ignore[index]
    name = f"conversions-{tenant_id[:8]}-{granularity}-{day}.csv"
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
