"""Faults the soak injects: a gunicorn worker killed, the database made unavailable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

# Holds an exclusive write lock on a SQLite file for HOLD seconds, reporting when.
_LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", time.time(), flush=True)
time.sleep(float(sys.argv[2]))
print("released", time.time(), flush=True)
db.execute("COMMIT")
"""


def workers(master_pid: int) -> list[int]:
    """The worker processes of a gunicorn master (its children)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def kill_worker(master_pid: int) -> dict:
    """SIGKILL one worker, as the OOM killer or a crash would; the master must respawn it."""
    before = workers(master_pid)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = workers(master_pid)
        if len(now) >= len(before) and victim not in now:
            break
        time.sleep(0.1)
    now = workers(master_pid)
    return {"fault": "worker SIGKILL", "at": time.time(), "pid": victim,
            "respawned": len(now) >= len(before) and victim not in now}


def lock_sqlite(path: str, hold: float) -> dict:
    """Another process holds ``BEGIN EXCLUSIVE`` on the database file for ``hold`` seconds."""
    run = subprocess.run([sys.executable, "-c", _LOCKER, path, str(hold)], capture_output=True,
                         text=True, check=True, timeout=hold + 60)
    times = dict(line.split() for line in run.stdout.splitlines())
    return {"fault": "sqlite exclusive lock", "start": float(times["locked"]),
            "end": float(times["released"])}


def restart_postgres(url: str, hold: float) -> dict:
    """Stop the PostgreSQL cluster serving ``url`` for ``hold`` seconds, then start it.

    ``SOAK_PG_CLUSTER`` ("15/main") names the cluster; it stops for every database in it.
    """
    version, name = os.environ.get("SOAK_PG_CLUSTER", _cluster_of(url)).split("/")
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
    subprocess.run([*ctl, "stop", "-m", "fast"], check=True, timeout=60)
    start = time.time()
    time.sleep(hold)
    end = time.time()
    subprocess.run([*ctl, "start"], check=True, timeout=60)
    return {"fault": "postgresql stopped", "start": start, "end": end}


def _cluster_of(url: str) -> str:
    port = str(urlsplit(url).port or 5432)
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True,
                             check=True).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            return f"{version}/{name}"
    raise RuntimeError(f"no local PostgreSQL cluster on port {port}")
