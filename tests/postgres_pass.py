"""The PostgreSQL pass of ``make test``: the whole suite again, on a throwaway database.

``python -m tests.postgres_pass [pytest args]`` creates a new database on the server at
``TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), runs
pytest with ``TEST_DATABASE_URL`` pointing at it, and drops it afterwards. When the server is
unreachable the pass fails under ``CI=true`` and is skipped, with a message, elsewhere.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg

from tests.support import POSTGRES_ADMIN_URL, one_line, throwaway_database


def main(args: list[str]) -> int:
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as err:
        message = (f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} ({one_line(err)}); "
                   "start it (.ci/run does) or point TEST_POSTGRES_URL at a server, "
                   "then run make test (or make test-postgres)")
        if os.environ.get("CI") == "true":
            print(f"PostgreSQL pass FAILED: {message}", file=sys.stderr)
            return 1
        print(f"PostgreSQL pass SKIPPED: {message}", file=sys.stderr)
        return 0
    # A terminated run still drops its database (the finally clause below runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with throwaway_database() as url:
        print(f"PostgreSQL pass on {url}", flush=True)
        env = {**os.environ, "TEST_DATABASE_URL": url}
        return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
