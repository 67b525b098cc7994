"""One conversion reported by a browser and by a server, counted once.

The first report of ``(tenant, event_name, event_id)`` within the dedup window claims it
(``ConversionClaim``); a later one settles against the claim, locked, and the authenticated
report wins whatever the order, without changing what any sender is answered. The rules:
docs/api.md ("One conversion, counted once"); the rollups: docs/scaling.md.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from conversions.core import clock
from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.core.sources import GOAL, SOURCES
from conversions.store import generations, rollups
from conversions.store.database import is_postgres
from conversions.store.generations import ROLLUP_CHANGES
from conversions.store.models import (
    AGGREGATE_CURSOR,
    ConversionClaim,
    DailyAggregate,
    Event,
    HourlyAggregate,
    JobCursor,
    SupersededEvent,
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
    as the insert answered, None: not stored) in the caller's transaction."""
    new = sorted(((row, result[0]) for row, result in zip(rows, results, strict=True)
                  if result is not None and not result[1] and takes_part(row)),
                 key=lambda item: _identity(item[0]))  # claims locked in one order
    if not new:
        return
    change: CoverageChange = {}
    taken_out: list[int] = []
    claimed = _claim_new(new)
    for row, event_id in new:
        if _identity(row) in claimed:  # the first report of its conversion
            claimed.discard(_identity(row))
            _count(change, row["tenant"], row["event_name"], _claim_fields(row, event_id), 1)
            continue
        loser = _settle(row, event_id, default_window_ms, change)
        if loser is not None:
            taken_out.append(loser)
    if taken_out:
        _take_out_of_rollups(taken_out)
    _add_coverage(change)


def _identity(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["tenant"], row["event_name"], event_key(row)  # type: ignore[return-value]


# Claims a statement inserts at most (14 columns each).
CHUNK = 100


def _claim_new(new: list[tuple[dict[str, Any], int]]) -> set[tuple[str, str, str]]:
    """Claim in a few statements the conversions of ``new`` that no report claimed yet; the
    identities claimed (a bulk import's are nearly all new)."""
    first: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row, event_id in new:
        tenant_id, name, key = _identity(row)
        first.setdefault((tenant_id, name, key), {
            "tenant": tenant_id, "event_name": name, "event_key": key,
            **_claim_fields(row, event_id)})
    if len(first) == 1:  # one report (a pixel, a webhook): the prepared statement
        ((identity, claim),) = first.items()
        return {identity} if claims.CLAIM.run(claim).fetchall() else set()
    claimed: set[tuple[str, str, str]] = set()
    rows = list(first.values())
    for start in range(0, len(rows), CHUNK):
        claimed.update(ConversionClaim.insert_many(rows[start:start + CHUNK])
                       .on_conflict_ignore()
                       .returning(ConversionClaim.tenant, ConversionClaim.event_name,
                                  ConversionClaim.event_key).tuples().execute())
    return claimed


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


def _settle(row: dict[str, Any], event_id: int, default_window_ms: int,
            change: CoverageChange) -> int | None:
    """Claim or settle ``row``'s conversion; the event id of a report taken out of the
    rollups (a pixel a server report took over), else None."""
    tenant_id, name, key = _identity(row)
    fields = _claim_fields(row, event_id)
    query = ConversionClaim.select().where(ConversionClaim.tenant == tenant_id,
                                           ConversionClaim.event_name == name,
                                           ConversionClaim.event_key == key)
    claim = (query.for_update() if is_postgres() else query).get()
    before = {field: getattr(claim, field) for field in fields}
    if abs(row["received_at_ms"] - claim.received_at_ms) > window_ms(tenant_id,
                                                                    default_window_ms):
        # Outside the window: a new conversion, which the claim follows from now on.
        _update(claim, fields)
        _count(change, tenant_id, name, fields, 1)
        return None
    after = dict(before)
    server = fields["server"]
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
    SupersededEvent.insert(event=loser, tenant=tenant_id, occurred_at_ms=lost_at, by=winner,
                           at_ms=clock.now_ms()).on_conflict_ignore().execute()
    _update(claim, after)
    _count(change, tenant_id, name, before, -1)
    _count(change, tenant_id, name, after, 1)
    return loser if loser != event_id else None


def _update(claim: ConversionClaim, fields: dict[str, Any]) -> None:
    ConversionClaim.update(**fields).where(ConversionClaim.id == claim.id).execute()


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
    computed again (``aggregation._add``), so it cannot count a report taken out here.
    """
    generations.bump(ROLLUP_CHANGES)
    cursor = (JobCursor.select(JobCursor.position_ms)
              .where(JobCursor.name == AGGREGATE_CURSOR).scalar() or 0)
    reports = (Event.select(Event.tenant, Event.occurred_at_ms, Event.source_type,
                            Event.event_name, Event.currency, Event.value_hundredths)
               .where(Event.id.in_(event_ids), Event.received_at_ms < cursor).tuples())
    for tenant_id, occurred_ms, source, name, currency, value in reports:
        for model, size in ((HourlyAggregate, HOUR_MS), (DailyAggregate, DAY_MS)):
            period = sql.PERIOD[model].name
            rollups.add_counts(model, [{
                "tenant": tenant_id, period: occurred_ms // size * size, "source_type": source,
                "event_name": name, "currency": currency or "", "events": -1,
                "value_hundredths": -(value or 0), "superseded": 1}])
