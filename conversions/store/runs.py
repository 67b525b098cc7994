"""Running a job once per interval across every process, and the record of its runs."""
from __future__ import annotations

import logging
from collections.abc import Callable

from conversions.core import clock
from conversions.store import leases
from conversions.store.database import connection
from conversions.store.models import JobRun

log = logging.getLogger(__name__)


def once(job: str, work: Callable[[], int], interval_s: float, lease_s: float,
         force: bool = False) -> JobRun | None:
    """Run ``work`` (returning rows touched) under ``job``'s lock and record the run.

    Skipped (None) when another process holds the lock or, unless ``force``, when the job
    already started in the current interval: intervals are aligned on the clock, so however
    many schedulers fire, one run starts per interval.
    """
    with connection(), leases.held(job, int(lease_s * 1000)) as taken:
        if not taken:
            return None
        now = clock.now_ms()
        interval_ms = max(1, int(interval_s * 1000))
        slot_start = now - now % interval_ms
        if not force and JobRun.select().where(JobRun.job == job,
                                               JobRun.started_at_ms >= slot_start).exists():
            return None
        run = JobRun.create(job=job, started_at_ms=now, holder=leases.holder())
        try:
            run.rows = work()
        except Exception as err:  # recorded for health, then logged with its traceback
            run.error = f"{type(err).__name__}: {err}"[:1000]
            log.exception("job failed", extra={"job": job})
        run.finished_at_ms = clock.now_ms()
        run.save()
        if run.error is None:
            log.info("job ran", extra={"job": job, "rows": run.rows,
                                       "duration_ms": run.finished_at_ms - run.started_at_ms})
        return run


def latest(job: str, finished: bool = False) -> JobRun | None:
    """The most recent run of ``job`` (``finished``: that has finished)."""
    query = JobRun.select().where(JobRun.job == job)
    if finished:
        query = query.where(JobRun.finished_at_ms.is_null(False))
    return query.order_by(JobRun.started_at_ms.desc(), JobRun.id.desc()).first()


def last_success(job: str) -> JobRun | None:
    """The most recent run of ``job`` that finished without error."""
    return (JobRun.select()
            .where(JobRun.job == job, JobRun.finished_at_ms.is_null(False),
                   JobRun.error.is_null())
            .order_by(JobRun.started_at_ms.desc(), JobRun.id.desc()).first())
