"""APScheduler in each serving process (``wsgi.py``) or as its own (``flask scheduler``).

Every process schedules every job; the jobs' database lock makes aggregate, staleness and
prune run once per interval overall, while flush saves each process's own tallies.
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from datetime import UTC, datetime

import click
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask, current_app

from conversions.jobs import tasks

log = logging.getLogger(__name__)

_lock = threading.Lock()
_running: tuple[int, BackgroundScheduler, Flask] | None = None  # (pid, scheduler, app)


def _runner(app: Flask, name: str):  # type: ignore[no-untyped-def]
    def fire() -> None:
        with app.app_context():
            try:
                tasks.run(name)
            except Exception:  # the store may be down: log it, try again next interval
                log.exception("scheduled job could not run", extra={"job": name})

    return fire


def start(app: Flask) -> BackgroundScheduler:
    """Schedule every job in this process (once per process; a forked child gets its own)."""
    global _running
    with _lock:
        if _running and _running[0] == os.getpid():
            return _running[1]
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        for name in tasks.JOBS:
            scheduler.add_job(_runner(app, name), "interval", id=name, name=name,
                              seconds=tasks.interval_seconds(name, app),
                              next_run_time=datetime.now(UTC))
        scheduler.start()
        _running = (os.getpid(), scheduler, app)
    atexit.register(stop)
    log.info("scheduler started", extra={"jobs": sorted(tasks.JOBS)})
    return scheduler


def stop() -> None:
    """Stop this process's scheduler and save its last tallies (at worker exit)."""
    global _running
    with _lock:
        running, _running = _running, None
    if not running or running[0] != os.getpid():
        return
    _, scheduler, app = running
    scheduler.shutdown(wait=True)
    with app.app_context():
        try:
            tasks.run("flush")
        except Exception:
            log.exception("final tally flush failed")


def start_if_enabled(app: Flask) -> None:
    if app.config.get("SCHEDULER_ENABLED"):
        start(app)


@click.command("scheduler", short_help="Run the scheduled jobs here until stopped.")
def scheduler_command() -> None:
    """Run the scheduled jobs in this process until stopped (then set
    CONVERSIONS_SCHEDULER_ENABLED=0 for the web workers if you like)."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    start(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("scheduler running; Ctrl-C or SIGTERM stops it")
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_command)
