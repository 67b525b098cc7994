"""One conversion reported by a browser and by a server, counted once.

The first report of ``(tenant, event_name, event_id)`` within the dedup window claims it
(``ConversionClaim``); a later one settles against the claim, locked, and the authenticated
report wins whatever the order, without changing what any sender is answered. The rules:
docs/api.md ("One conversion, counted once"); the rollups: docs/scaling.md.
"""
from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from conversions.core import clock
from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.core.sources import GOAL, SOURCES
from conversions.store import generations, rollups
from conversions.store.database import database, is_postgres
from conversions.store.generations import ROLLUP_CHANGES
from conversions.store.models import (
    AGGREGATE_CURSOR,
    DailyAggregate,
    Event,
    HourlyAggregate,
    JobCursor,
    TenantSetting,
)
from conversions.store.statements import claims
from conversions.store.statements import rollups as sql

# The per-tenant setting of the window (``tenants.settings`` parses and stores it).
WINDOW_SETTING = "dedup_window_seconds"
COVERAGE_FIELDS = ("server", "browser", "both", "value_mismatches")
# (tenant, hour start, event name) -> the change of each of ``COVERAGE_FIELDS``, in order
CoverageChange = dict[tuple[str, int, str], list[int]]


def event_key(row: dict[str, Any]) -> str | None:
    """The ``id:`` key of a report's ``event_id`` (a postback's is inside its own key,
    ``pb:<provider>:id:<event_id>``); None: it has none, or it is a signed goal (goals keep
    their own rules)."""
    key = row.get("dedup_key")
    if not key or row["source_type"] == GOAL.name:
        return None
    if key.startswith("pb:"):
        _, _, key = key.partition(":")[2].partition(":")
    return key if key.startswith("id:") else None


def settle(rows: Sequence[dict[str, Any]], results: Sequence[tuple[int, bool] | None],
           default_window_ms: int) -> None:
    """Settle each newly stored report of ``rows`` (``results``: ``(event id, duplicate)``
    as the insert answered, None: not stored) in the caller's transaction.

    Their conversions are claimed in identity order (two transactions claiming the same ones
    lock them in one order, so neither waits on the other while holding what it needs), a
    statement for all on PostgreSQL, per ``CHUNK`` on SQLite; a report of a conversion
    claimed already settles against its claim, and the claims it changed and the reports
    that lost are written after, a statement each for all.
    """
    new: list[tuple[Identity, dict[str, Any], dict[str, Any]]] = []
    for row, result in zip(rows, results, strict=True):
        if result is None or result[1]:
            continue
        key = event_key(row)
        if key is not None:
            new.append(((row["tenant"], row["event_name"], key), row,
                        _claim_fields(row, result[0])))
    if not new:
        return
    new.sort(key=itemgetter(0))
    stored = _claims(new)
    change: CoverageChange = {}
    lost: list[dict[str, Any]] = []
    taken_out: list[int] = []
    settled: dict[int, dict[str, Any]] = {}  # claim id -> the claim as settled
    windows: dict[str, int] = {}
    for identity, row, fields in new:
        claim = stored[identity]
        if isinstance(claim, tuple):  # as the claim statement returned it
            if claim[_WINNER] == fields["winner"]:  # the first report of its conversion
                _count(change, row["tenant"], row["event_name"], fields, 1)
                continue
            claim = stored[identity] = dict(zip(claims.RETURNED, claim, strict=True))
        tenant_id = row["tenant"]
        if tenant_id not in windows:
            windows[tenant_id] = window_ms(tenant_id, default_window_ms)
        loser = _settle(claim, row, fields, windows[tenant_id], change, lost)
        if loser is not None:
            taken_out.append(loser)
        settled[claim["id"]] = claim
    if settled:
        claims.UPDATE.run_many(list(settled.values()))
    if lost:
        claims.SUPERSEDE.run_many(lost)
    if taken_out:
        _take_out_of_rollups(taken_out)
    _add_coverage(change)


Identity = tuple[str, str, str]
# Claims a SQLite statement takes at most (12 parameters each).
CHUNK = 100
# Where a claim statement's row has the claim's winner.
_WINNER = claims.RETURNED.index("winner")
# A claim's fields but its identity, in the claim statement's order.
_SETTLED = itemgetter(*claims.SETTLED_NAMES)
# Whether a source's report is a server's (authenticated), by source name.
_SERVER = {name: source.authenticated for name, source in SOURCES.items()}


def _claims(new: list[tuple[Identity, dict[str, Any], dict[str, Any]]]
            ) -> dict[Identity, tuple[Any, ...] | dict[str, Any]]:
    """Claim the conversions of ``new`` (in identity order; each report with its claim's
    fields) that no report claimed yet; every one's claim, new or stored, by identity, as
    the statement returned it (``claims.RETURNED``)."""
    first: dict[Identity, list[Any]] = {}
    for identity, _, fields in new:
        if identity not in first:
            first[identity] = [*identity, *_SETTLED(fields)]
    values = list(first.values())
    if is_postgres():  # one statement, a column's values a parameter
        arrays = [list(column) for column in zip(*values, strict=True)]
        returned = database.execute_sql(claims.POSTGRES_CLAIM, arrays).fetchall()
    else:
        returned = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            returned += database.execute_sql(claims.sqlite_claim_rows(len(chunk)),
                                             [value for each in chunk for value in each])
    return {(claim[1], claim[2], claim[3]): tuple(claim) for claim in returned}


def window_ms(tenant_id: str, default_ms: int) -> int:
    """The tenant's window of receipt, its override or ``default_ms``."""
    value = (TenantSetting.select(TenantSetting.value)
             .where(TenantSetting.tenant == tenant_id, TenantSetting.name == WINDOW_SETTING)
             .scalar())
    return default_ms if value is None else int(value) * 1000


def _claim_fields(row: dict[str, Any], event_id: int) -> dict[str, Any]:
    """A claim's fields as ``row``, its first report, makes them."""
    server = _SERVER[row["source_type"]]
    value, currency = row.get("value_hundredths"), row.get("currency")
    return {"winner": event_id, "received_at_ms": row["received_at_ms"],
            "occurred_at_ms": row["occurred_at_ms"], "server": server, "browser": not server,
            "server_value": value if server else None,
            "server_currency": currency if server else None,
            "browser_value": None if server else value,
            "browser_currency": None if server else currency}


def _settle(claim: dict[str, Any], row: dict[str, Any], fields: dict[str, Any], window: int,
            change: CoverageChange, lost: list[dict[str, Any]]) -> int | None:
    """Settle ``row`` (its claim's ``fields``), a later report of ``claim``'s conversion,
    into ``claim``, changed in place; a report that lost goes to ``lost``. The event id of
    a report to take out of the rollups (a pixel a server report took over), else None."""
    tenant_id, name = row["tenant"], row["event_name"]
    before = {field: claim[field] for field in fields}
    if abs(row["received_at_ms"] - claim["received_at_ms"]) > window:
        # Outside the window: a new conversion, which the claim follows from now on.
        claim.update(fields)
        _count(change, tenant_id, name, fields, 1)
        return None
    after = dict(before)
    server, event_id = fields["server"], fields["winner"]
    if server and not before["server"]:
        after.update(server=True, server_value=fields["server_value"],
                     server_currency=fields["server_currency"])
    if not server and not before["browser"]:
        after.update(browser=True, browser_value=fields["browser_value"],
                     browser_currency=fields["browser_currency"])
    loser, winner, lost_at = event_id, before["winner"], row["occurred_at_ms"]
    if server and not before["server"]:  # the authenticated report takes over
        loser, winner, lost_at = before["winner"], event_id, before["occurred_at_ms"]
        after.update(winner=event_id, occurred_at_ms=row["occurred_at_ms"])
    lost.append({"event": loser, "tenant": tenant_id, "occurred_at_ms": lost_at, "by": winner,
                 "at_ms": clock.now_ms()})
    claim.update(after)
    _count(change, tenant_id, name, before, -1)
    _count(change, tenant_id, name, after, 1)
    return loser if loser != event_id else None


def _count(change: CoverageChange, tenant_id: str, name: str, fields: dict[str, Any],
           sign: int) -> None:
    """Add (``sign`` 1) or take back (-1) what a claim in state ``fields`` counts."""
    server, browser = bool(fields["server"]), bool(fields["browser"])
    both = server and browser
    mismatch = both and ((fields["server_value"], fields["server_currency"])
                         != (fields["browser_value"], fields["browser_currency"]))
    hour = fields["occurred_at_ms"] // HOUR_MS * HOUR_MS
    counts = change.setdefault((tenant_id, hour, name), [0] * len(COVERAGE_FIELDS))
    counts[0] += sign * server
    counts[1] += sign * browser
    counts[2] += sign * both
    counts[3] += sign * mismatch


def _add_coverage(change: CoverageChange) -> None:
    rows = [{"tenant": tenant_id, "hour_start_ms": hour, "event_name": name,
             **dict(zip(COVERAGE_FIELDS, counts, strict=True))}
            for (tenant_id, hour, name), counts in sorted(change.items()) if any(counts)]
    if rows:
        rollups.add_coverage(rows)


def _take_out_of_rollups(event_ids: list[int]) -> None:
    """Take superseded reports out of the count rollups they are in already.

    The rollup change counter is bumped first: a batch being written is waited for (then the
    cursor read here has passed its events), and one computed before this commits is
    computed again (``aggregation``), so it cannot count a report taken out here.
    """
    generations.bump(ROLLUP_CHANGES)
    cursor = (JobCursor.select(JobCursor.position_ms)
              .where(JobCursor.name == AGGREGATE_CURSOR).scalar() or 0)
    reports = list(Event.select(Event.tenant, Event.occurred_at_ms, Event.source_type,
                                Event.event_name, Event.currency, Event.value_hundredths)
                   .where(Event.id.in_(event_ids), Event.received_at_ms < cursor).tuples())
    for model, size in ((HourlyAggregate, HOUR_MS), (DailyAggregate, DAY_MS)):
        period = sql.PERIOD[model].name
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}  # one a key: an upsert meets it once
        for tenant_id, occurred_ms, source, name, currency, value in reports:
            start = occurred_ms // size * size
            counts = rows.setdefault((tenant_id, start, source, name, currency or ""), {
                "tenant": tenant_id, period: start, "source_type": source, "event_name": name,
                "currency": currency or "", "events": 0, "value_hundredths": 0, "superseded": 0})
            counts["events"] -= 1
            counts["value_hundredths"] -= value or 0
            counts["superseded"] += 1
        rollups.add_counts(model, list(rows.values()))
