"""Whether a tenant's sources deliver: measured from receive time, never from ``event_ts``,
so a future-dated event cannot make a source look fresh. Also the staleness job."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app

from conversions.core.periods import iso
from conversions.core.sources import WATCHED
from conversions.monitoring import alerts
from conversions.store.models import Event, SourceState, Tenant
from conversions.tenants import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Freshness:
    """One source of one tenant as of ``now_ms``."""

    source_type: str
    last_event_at_ms: int | None
    window_seconds: int
    now_ms: int

    @property
    def connected(self) -> bool:
        return self.last_event_at_ms is not None

    @property
    def fresh(self) -> bool:
        return self.connected and self.now_ms - self.last_event_at_ms <= self.window_seconds * 1000

    @property
    def stale_since_ms(self) -> int | None:
        """When the source went stale (its last event plus the window), while it is."""
        if not self.connected or self.fresh:
            return None
        return self.last_event_at_ms + self.window_seconds * 1000


def last_received_ms(tenant_id: str, source_type: str) -> int | None:
    """When the tenant's last event from ``source_type`` was received (ms), if ever.

    The newest entry of the ``(tenant, source, received)`` index, read backwards: the source
    bounded by a range and named in the order, an order only that index gives, so no plan can
    walk the ``(received)`` index instead (docs/scaling.md, "Readiness on PostgreSQL")."""
    return (Event.select(Event.received_at_ms)
            .where(Event.tenant == tenant_id, Event.source_type >= source_type,
                   Event.source_type <= source_type)
            .order_by(Event.source_type.desc(), Event.received_at_ms.desc())
            .limit(1).scalar())


def sources(tenant_id: str, now_ms: int) -> dict[str, Freshness]:
    """Every source type of the tenant, connected or not."""
    return {source: Freshness(source, last_received_ms(tenant_id, source),
                              settings.get(tenant_id, "freshness_window_seconds", source), now_ms)
            for source in WATCHED}


def _alert(tenant_id: str, state: Freshness) -> None:
    details = {"tenant_id": tenant_id, "source_type": state.source_type,
               "stale_since": iso(state.stale_since_ms),
               "last_event_at": iso(state.last_event_at_ms),
               "freshness_window_seconds": state.window_seconds}
    log.warning("source stale", extra={"alert": "source_stale", **details})
    config = current_app.config
    alerts.send(config["ALERT_WEBHOOK_URL"], {"alert": "source_stale", **details},
                int(config["ALERT_ATTEMPTS"]), float(config["ALERT_RETRY_SECONDS"]))


def check(now_ms: int) -> int:
    """Record every connected source's state; warn (and alert) on each turn to stale.

    Returns the number of source states written.
    """
    written = 0
    for (tenant_id,) in list(Tenant.select(Tenant.id).tuples()):
        known = {row.source_type: row for row in
                 SourceState.select().where(SourceState.tenant == tenant_id)}
        for source, state in sources(tenant_id, now_ms).items():
            if not state.connected:
                continue
            before = known.get(source)
            was_stale = before is not None and before.stale_since_ms is not None
            (SourceState.insert(tenant=tenant_id, source_type=source,
                                last_event_at_ms=state.last_event_at_ms,
                                stale_since_ms=state.stale_since_ms, checked_at_ms=now_ms)
             .on_conflict(conflict_target=[SourceState.tenant, SourceState.source_type],
                          preserve=[SourceState.last_event_at_ms, SourceState.stale_since_ms,
                                    SourceState.checked_at_ms])
             .execute())
            written += 1
            if state.stale_since_ms is not None and not was_stale:
                _alert(tenant_id, state)
            elif was_stale and state.fresh:
                log.info("source recovered", extra={"tenant_id": tenant_id,
                                                    "source_type": source,
                                                    "last_event_at": iso(state.last_event_at_ms)})
    return written
