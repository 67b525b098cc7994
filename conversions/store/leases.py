"""A lock per job across processes and hosts: an advisory lock on PostgreSQL, a lease row
on SQLite (which has no such lock; a lease whose holder died expires after its ttl)."""
from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from conversions.core import clock
from conversions.store.database import database, is_postgres
from conversions.store.models import JobLease


def holder() -> str:
    """Who holds a lock: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _advisory_key(job: str) -> int:
    return zlib.crc32(f"conversions.job.{job}".encode())


def _take_lease(job: str, ttl_ms: int) -> bool:
    now = clock.now_ms()
    with database.atomic():
        JobLease.insert(job=job, holder=None, expires_at_ms=0).on_conflict_ignore().execute()
        taken = (JobLease.update(holder=holder(), expires_at_ms=now + ttl_ms)
                 .where(JobLease.job == job, JobLease.expires_at_ms <= now)
                 .execute())
    return taken == 1


def _release_lease(job: str) -> None:
    (JobLease.update(holder=None, expires_at_ms=0)
     .where(JobLease.job == job, JobLease.holder == holder())
     .execute())


@contextmanager
def held(job: str, ttl_ms: int) -> Iterator[bool]:
    """Try to take ``job``'s lock without waiting; yields whether it was taken.

    Needs an open connection: PostgreSQL's advisory lock belongs to the session.
    """
    if is_postgres():
        key = _advisory_key(job)
        taken = bool(database.execute_sql("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
        try:
            yield taken
        finally:
            if taken:
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
        return
    taken = _take_lease(job, ttl_ms)
    try:
        yield taken
    finally:
        if taken:
            _release_lease(job)
