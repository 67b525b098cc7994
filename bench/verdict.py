"""What the soak proves from what was sent and what is stored: exactly once, 503 when down."""
from __future__ import annotations

from collections import Counter

from bench import soak_load as load


def stored_counts(tenant_id: str) -> Counter:
    """How many times each marker is stored, by (source, marker)."""
    from conversions.store.database import connection
    from conversions.store.models import Event

    counts: Counter = Counter()
    with connection():
        rows = (Event.select(Event.source_type, Event.session_id, Event.dedup_key)
                .where(Event.tenant == tenant_id).tuples())
        for source, session_id, dedup_key in rows:
            marker = session_id if source == "goal" else (dedup_key or "")[3:]
            counts[(source, marker)] += 1
    return counts


def verdict(sent: list[load.Sent], stored: Counter, outage: dict) -> dict:
    attempts = [a for s in sent for a in s.attempts]
    acked = {key for s in sent if s.acknowledged for key in s.keys}
    during = [a for a in attempts if a.started >= outage["start"] and a.ended <= outage["end"]]
    return {
        "sent": sum(len(s.keys) for s in sent),
        "requests": len(attempts),
        "acknowledged": len(acked),
        "stored": sum(stored.values()),
        "lost": sum(1 for key in acked if stored[key] == 0),
        "duplicates": sum(n - 1 for n in stored.values() if n > 1),
        "stored_unacknowledged": sum(1 for key in stored if key not in acked),
        "connection_errors": sum(1 for a in attempts if a.status == 0),
        "503_with_retry_after": sum(1 for a in attempts if a.status == 503 and a.retry_after),
        "503_without_retry_after": sum(1 for a in attempts
                                       if a.status == 503 and not a.retry_after),
        "5xx_other_than_503": sum(1 for a in attempts if a.status >= 500 and a.status != 503),
        "during_outage": dict(Counter(str(a.status) for a in during)),
        "by_source": dict(Counter(key[0] for s in sent for key in s.keys)),
    }


def check(figures: dict, events: list[dict]) -> list[str]:
    problems = []
    if figures["acknowledged"] < figures["sent"]:
        problems.append(f"{figures['sent'] - figures['acknowledged']} events were never "
                        "acknowledged, retries included: the service did not recover")
    if figures["lost"]:
        problems.append(f"{figures['lost']} acknowledged events are not stored")
    if figures["duplicates"]:
        problems.append(f"{figures['duplicates']} events are stored more than once")
    if figures["5xx_other_than_503"]:
        problems.append(f"{figures['5xx_other_than_503']} answers were 5xx other than 503")
    if figures["503_without_retry_after"]:
        problems.append("a 503 came without Retry-After")
    during = figures["during_outage"]
    if not during.get("503"):
        problems.append("no 503 while the store was unavailable")
    if any(status.startswith("2") or status == "500" for status in during):
        problems.append(f"answers other than 503 while the store was down: {during}")
    if not all(e["respawned"] for e in events if "respawned" in e):
        problems.append("a killed worker or writer process was not replaced")
    return problems
