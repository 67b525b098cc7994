"""One conversion reported by a browser and by a server, counted once.

A conversion's identity across channels is ``(tenant, event_name, event_id)`` within a window
of receipt (``dedup_window_seconds``, by tenant). Its first report claims it
(``ConversionClaim``); a later one within the window settles against the claim, whose row it
locks (the claim's upsert does on PostgreSQL, ``store.statements.claims``; SQLite has one
writer), so reports arriving at once, on any instance, take turns. The authenticated report
(webhook, postback, CSV import) wins whatever the order: a pixel after it is stored and never
counts; a server report after a pixel takes over, and the pixel, already in the count rollups
perhaps, is taken out of them. Between two authenticated reports the first stays. A report
that loses is recorded in ``SupersededEvent`` and stays stored as received. Signed goals keep
their own rules. Every settlement keeps ``HourlyCoverage`` exact in the same transaction.

Nothing here changes what a sender is answered: a pixel cannot learn whether the server
reported its conversion.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from conversions.core import clock
from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.core.sources import GOAL, SOURCES
from conversions.store import generations, rollups
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
# (tenant, hour start, event name) -> the change of each of ``COVERAGE_FIELDS``
CoverageChange = dict[tuple[str, int, str], Counter[str]]


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


def takes_part(row: dict[str, Any]) -> bool:
    """Whether a stored report is settled across channels: it has an ``event_id``."""
    return event_key(row) is not None


def settle(rows: Sequence[dict[str, Any]], results: Sequence[tuple[int, bool] | None],
           default_window_ms: int) -> None:
    """Settle each newly stored report of ``rows`` (``results``: ``(event id, duplicate)``
    as the insert answered, None: not stored) in the caller's transaction.

    Their conversions are claimed in identity order (two transactions claiming the same ones
    lock them in one order, so neither waits on the other while holding what it needs), a
    statement per ``CHUNK``; a report of a conversion claimed already settles against its
    claim, and the claims it changed and the reports that lost are written after, a
    statement each for all.
    """
    new = sorted(((_identity(row), row, result[0])
                  for row, result in zip(rows, results, strict=True)
                  if result is not None and not result[1] and takes_part(row)),
                 key=itemgetter(0))
    if not new:
        return
    stored = _claims(new)
    change: CoverageChange = {}
    lost: list[dict[str, Any]] = []
    taken_out: list[int] = []
    settled: dict[int, dict[str, Any]] = {}  # claim id -> the claim as settled
    windows: dict[str, int] = {}
    for identity, row, event_id in new:
        claim, fields = stored[identity], _claim_fields(row, event_id)
        if claim["winner"] == event_id:  # the first report of its conversion
            _count(change, row["tenant"], row["event_name"], fields, 1)
            continue
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


def _identity(row: dict[str, Any]) -> Identity:
    return row["tenant"], row["event_name"], event_key(row)  # type: ignore[return-value]


# Claims a statement takes at most (12 parameters each).
CHUNK = 100


def _claims(new: list[tuple[Identity, dict[str, Any], int]]) -> dict[Identity, dict[str, Any]]:
    """Claim the conversions of ``new`` (in identity order) that no report claimed yet;
    every one's claim (``claims.RETURNED``), new or stored, by identity."""
    first: dict[Identity, list[Any]] = {}
    for identity, row, event_id in new:
        if identity not in first:
            claim = {"tenant": identity[0], "event_name": identity[1],
                     "event_key": identity[2], **_claim_fields(row, event_id)}
            first[identity] = [claim[name] for name in claims.CLAIMED]
    values = list(first.values())
    found: dict[Identity, dict[str, Any]] = {}
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        cursor = claims.claim(len(chunk)).run_values([value for each in chunk for value in each])
        for returned in cursor.fetchall():
            claim = dict(zip(claims.RETURNED, returned, strict=True))
            found[claim["tenant"], claim["event_name"], claim["event_key"]] = claim
    return found


def window_ms(tenant_id: str, default_ms: int) -> int:
    """The tenant's window of receipt, its override or ``default_ms``."""
    value = (TenantSetting.select(TenantSetting.value)
             .where(TenantSetting.tenant == tenant_id, TenantSetting.name == WINDOW_SETTING)
             .scalar())
    return default_ms if value is None else int(value) * 1000


def _claim_fields(row: dict[str, Any], event_id: int) -> dict[str, Any]:
    """A claim's fields as ``row``, its first report, makes them."""
    server = SOURCES[row["source_type"]].authenticated
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
    both = fields["server"] and fields["browser"]
    mismatch = both and ((fields["server_value"], fields["server_currency"])
                         != (fields["browser_value"], fields["browser_currency"]))
    hour = fields["occurred_at_ms"] // HOUR_MS * HOUR_MS
    counts = change.setdefault((tenant_id, hour, name), Counter())
    for field, counted in zip(COVERAGE_FIELDS, (fields["server"], fields["browser"], both,
                                                mismatch), strict=True):
        counts[field] += sign * int(bool(counted))


def _add_coverage(change: CoverageChange) -> None:
    rows = [{"tenant": tenant_id, "hour_start_ms": hour, "event_name": name,
             **{field: counts[field] for field in COVERAGE_FIELDS}}
            for (tenant_id, hour, name), counts in sorted(change.items())
            if any(counts.values())]
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
