"""What an aggregation step works on and hands back: the periods a batch touched, by tenant
and as runs of consecutive periods (each run one range query), and the rows a rollup computed
outside a transaction, to write inside one."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conversions.core.periods import DAY_MS, HOUR_MS

# Periods by tenant: hour or day indexes (event time // HOUR_MS or DAY_MS).
Touched = dict[str, set[int]]


@dataclass(frozen=True)
class Run:
    """A tenant's consecutive periods ``first..last`` (indexes)."""

    tenant: str
    first: int
    last: int


@dataclass(frozen=True)
class Write:
    """Rows a rollup computed (``rows`` of them, as a run reports it), written to the store
    by ``apply`` in the caller's transaction."""

    rows: int
    apply: Callable[[], None]


def runs(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive indexes as ``(first, last)`` runs."""
    found: list[tuple[int, int]] = []
    for index in sorted(indexes):
        if found and found[-1][1] == index - 1:
            found[-1] = (found[-1][0], index)
        else:
            found.append((index, index))
    return found


def kept_runs(touched: Touched, size_ms: int, horizon_ms: int | None) -> list[Run]:
    """The touched periods as runs by tenant, less any period starting before the horizon."""
    lowest = 0 if horizon_ms is None else -(-horizon_ms // size_ms)
    return [Run(tenant_id, max(first, lowest), last)
            for tenant_id, indexes in sorted(touched.items())
            for first, last in runs(indexes) if last >= lowest]


def day_runs(hour_runs: Iterable[Run]) -> list[Run]:
    """The runs of days holding the hour runs ``hour_runs``."""
    days: Touched = defaultdict(set)
    for run in hour_runs:
        days[run.tenant].update(range(run.first * HOUR_MS // DAY_MS,
                                      run.last * HOUR_MS // DAY_MS + 1))
    return [Run(tenant_id, first, last)
            for tenant_id, indexes in days.items() for first, last in runs(indexes)]
