"""The scheduled jobs: aggregate, staleness and prune run once per interval across every
process (``runs.once``); flush saves each process's own tallies, so it runs in every process.
``flask --app app jobs run NAME`` runs one now."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from conversions.core import clock
from conversions.core.periods import DAY_MS, floor, iso
from conversions.monitoring import freshness
from conversions.rollups import aggregation, tally
from conversions.store import dead_letters, leases, partitions, retention, runs
from conversions.store.database import connection, database
from conversions.store.models import JobRun, OutcomeCount, WebhookDelivery


def _config_ms(name: str) -> int:
    return int(float(current_app.config[name]) * 1000)


def aggregate() -> int:
    """Aggregate every event received before now less the settle time; a long catch-up
    stops starting batches at half the lease, so no other process takes the job over."""
    budget = float(current_app.config["JOB_LEASE_SECONDS"]) / 2
    return aggregation.aggregate(clock.now_ms() - _config_ms("AGGREGATE_SETTLE_SECONDS"),
                                 budget_seconds=budget)


def prune_raw_events(now_ms: int) -> int:
    """Delete raw events older than RAW_EVENT_RETENTION_DAYS (whole days of event time)
    that the rollups hold; 0 (the default) keeps them. Under the aggregate job's lock, so no
    period is recomputed while its events go."""
    days = int(current_app.config["RAW_EVENT_RETENTION_DAYS"])
    if not days:
        return 0
    with leases.held("aggregate", _config_ms("JOB_LEASE_SECONDS")) as taken:
        if not taken:  # the aggregation runs: the next prune goes on
            return 0
        return retention.prune_events(floor(now_ms - days * DAY_MS, "day"),
                                      aggregation.cursor_ms())


def staleness() -> int:
    return freshness.check(clock.now_ms())


def prune() -> int:
    """Forget webhook ids past the replay window, old job runs, dead letters past their
    retention and raw events past theirs; on PostgreSQL, make the events' partitions of the
    coming months (``store.partitions``).

    A signed goal's digest is kept as long as its event: the goal protocol signs no time or
    nonce, so freeing it would let the same captured bytes count again.
    """
    now = clock.now_ms()
    cutoff = now - _config_ms("REPLAY_WINDOW_SECONDS")
    # Each delete is its own transaction: they need no atomicity together, and a transaction
    # holding one table at a time cannot deadlock with a worker starting up, whose schema
    # check locks the tables in turn (PostgreSQL).
    rows = WebhookDelivery.delete().where(WebhookDelivery.received_at_ms < cutoff).execute()
    rows += (JobRun.delete()
             .where(JobRun.started_at_ms < now - _config_ms("JOB_RUN_RETENTION_SECONDS"))
             .execute())
    rows += dead_letters.prune_expired(now)
    rows += prune_raw_events(now)
    partitions.ensure_months(database.obj, now, lock_timeout=partitions.LOCK_TIMEOUT)
    return rows


def flush() -> int:
    """Add this process's tallies to the outcome counts; put them back if that fails."""
    counts = tally.drain()
    if not counts:
        return 0
    hour = floor(clock.now_ms(), "hour")
    try:
        with connection(), database.atomic():
            for (tenant_id, source, outcome), count in counts.items():
                same = (OutcomeCount.tenant_id.is_null() if tenant_id is None
                        else OutcomeCount.tenant_id == tenant_id)
                added = (OutcomeCount.update(count=OutcomeCount.count + count)
                         .where(same, OutcomeCount.source_type == source,
                                OutcomeCount.outcome == outcome,
                                OutcomeCount.hour_start_ms == hour)
                         .execute())
                if not added:  # a NULL tenant never conflicts: readers sum the rows
                    (OutcomeCount.insert(tenant_id=tenant_id, source_type=source,
                                         outcome=outcome, hour_start_ms=hour, count=count)
                     .on_conflict(conflict_target=[OutcomeCount.tenant_id,
                                                   OutcomeCount.source_type,
                                                   OutcomeCount.outcome,
                                                   OutcomeCount.hour_start_ms],
                                  update={OutcomeCount.count: OutcomeCount.count + count})
                     .execute())
    except BaseException:
        tally.restore(counts)
        raise
    return len(counts)


@dataclass(frozen=True)
class Job:
    work: Callable[[], int]
    interval_setting: str
    once_per_interval: bool = True  # False: every process runs it (its own tallies)


JOBS = {
    "aggregate": Job(aggregate, "AGGREGATE_INTERVAL_SECONDS"),
    "staleness": Job(staleness, "STALENESS_INTERVAL_SECONDS"),
    "prune": Job(prune, "PRUNE_INTERVAL_SECONDS"),
    "flush": Job(flush, "FLUSH_INTERVAL_SECONDS", once_per_interval=False),
}


def interval_seconds(name: str, app: Flask | None = None) -> float:
    return float((app or current_app).config[JOBS[name].interval_setting])


def run(name: str, force: bool = False) -> JobRun | int | None:
    """Run job ``name`` (needs an app context): a recorded ``JobRun`` for the once-per-interval
    jobs (None when skipped), the rows saved for flush. ``force``: even if it ran this interval.
    """
    job = JOBS[name]
    if not job.once_per_interval:
        return job.work()
    return runs.once(name, job.work, interval_seconds(name),
                     float(current_app.config["JOB_LEASE_SECONDS"]), force=force)


jobs_cli = AppGroup("jobs", help="Run the scheduled jobs by hand.")


@jobs_cli.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS)))
def run_command(name: str) -> None:
    """Run one job now (waits for no one: skipped if another process holds its lock)."""
    result = run(name, force=True)
    if isinstance(result, JobRun):
        click.echo(json.dumps({"job": name, "started_at": iso(result.started_at_ms),
                               "finished_at": iso(result.finished_at_ms), "rows": result.rows,
                               "error": result.error}))
        if result.error:
            raise click.exceptions.Exit(1)
    elif result is None:
        raise click.ClickException(f"{name} is running in another process; not run")
    else:
        click.echo(json.dumps({"job": name, "rows": result}))


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
