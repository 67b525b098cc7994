"""Counters a change bumps, so that every process, on every instance, sees at once that what
it cached is stale: the invalidation of a cache, not its ageing."""
from __future__ import annotations

from conversions.store.models import Generation
from conversions.store.statements.generations import GENERATION

# Bumped with every change of a secret (a tenant created, a rotation): workers read it, one
# primary-key read, before trusting a cached keyring.
SIGNING_KEYS = "signing-keys"
# Bumped at sign-out: a settings session remembers the value it was opened at and ends when
# the value moves on.
ADMIN_SESSIONS = "admin-sessions"
# Bumped when rows of the rollups are recomputed for a changed event: an aggregation batch
# read meanwhile is read again (``rollups.aggregation``).
ROLLUP_CHANGES = "rollup-changes"


def current(name: str) -> int:
    """The counter's value (0 until first bumped); needs an open connection."""
    row = GENERATION.run_values((name,)).fetchone()  # its one parameter, ``name``
    return int(row[0]) if row else 0


def bump(name: str) -> None:
    """Move the counter on, in the caller's transaction (it counts once that commits)."""
    (Generation.insert(name=name, value=1)
     .on_conflict(conflict_target=[Generation.name],
                  update={Generation.value: Generation.value + 1})
     .execute())


def start(name: str) -> None:
    """Make the counter's row (at 0) if it has none, so ``hold`` has a row to lock."""
    Generation.insert(name=name, value=0).on_conflict_ignore().execute()


def hold(name: str) -> None:
    """Lock the counter's row for the caller's transaction (PostgreSQL; SQLite's write lock
    is the database's): a bump being committed is waited for, and one to come waits."""
    Generation.update(value=Generation.value).where(Generation.name == name).execute()
