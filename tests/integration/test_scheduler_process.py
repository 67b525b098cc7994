"""``flask --app app scheduler``: the jobs run in a process of their own."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import support

pytestmark = pytest.mark.slow


def test_the_scheduler_runs_as_its_own_process(tmp_path):
    from app import create_app
    from conversions.store.database import connection
    from conversions.store.models import JobRun
    from tests.support import empty_database

    url = support.test_database_url(tmp_path)
    create_app({"DATABASE_URL": url})
    with connection():
        empty_database()
    env = {**os.environ, "DATABASE_URL": url, "CONVERSIONS_AGGREGATE_INTERVAL_SECONDS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler"],
                               cwd=support.ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        def aggregate_runs() -> int:  # by this process (PostgreSQL runs share one database)
            with connection():
                return JobRun.select().where(JobRun.job == "aggregate",
                                             JobRun.holder.endswith(f":{process.pid}")).count()

        support.until(lambda: aggregate_runs() >= 2, timeout=30, interval=0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "scheduler running" in output
