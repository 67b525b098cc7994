"""Counters a change bumps, so that every process, on every instance, sees at once that what
it cached is stale: the invalidation of a cache, not its ageing.

``SIGNING_KEYS`` is bumped with every change of a secret (a tenant created, a rotation);
workers read it before trusting a cached keyring, one primary-key read
(``store.statements``). ``ADMIN_SESSIONS`` is bumped at sign-out: a settings session
remembers the value it was opened at and ends when the value moves on.
"""
from __future__ import annotations

from conversions.store.models import Generation
from conversions.store.statements.generations import GENERATION

SIGNING_KEYS = "signing-keys"
ADMIN_SESSIONS = "admin-sessions"

def current(name: str) -> int:
    """The counter's value (0 until first bumped); needs an open connection."""
    row = GENERATION.run({"name": name}).fetchone()
    return int(row[0]) if row else 0


def bump(name: str) -> None:
    """Move the counter on, in the caller's transaction (it counts once that commits)."""
    (Generation.insert(name=name, value=1)
     .on_conflict(conflict_target=[Generation.name],
                  update={Generation.value: Generation.value + 1})
     .execute())
