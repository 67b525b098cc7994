"""Faults the soak injects: a gunicorn worker or the SQLite writer process killed, the database
made unavailable."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import children
from conversions.store.writer import supervisor

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


WRITER_MODULE = supervisor.MODULE.encode()


def _is_writer(pid: int) -> bool:
    try:
        return WRITER_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def workers(master_pid: int) -> list[int]:
    """The worker processes of a gunicorn master (its children but its SQLite writer)."""
    return [pid for pid in children(master_pid) if not _is_writer(pid)]


def writer(master_pid: int) -> int | None:
    """The master's SQLite writer process, if one runs."""
    return next((pid for pid in children(master_pid) if _is_writer(pid)), None)


def kill_writer(master_pid: int) -> dict:
    """SIGKILL the SQLite writer process, mid-write under load; the master must restart it."""
    victim = writer(master_pid)
    assert victim is not None, "no writer process to kill"
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and writer(master_pid) in (None, victim):
        time.sleep(0.1)
    return {"fault": "writer SIGKILL", "at": time.time(), "pid": victim,
            "respawned": writer(master_pid) not in (None, victim)}


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


class PrivateRedis:
    """A redis-server of the soak's own on ``port`` (the shared one is left alone), which
    ``go_away`` stops for a while and starts again, empty, on the same port."""

    def __init__(self, port: int, work: Path) -> None:
        self.port, self.work = port, work
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def go_away(self, hold: float) -> dict:
        """Kill the server (as a crash would) for ``hold`` seconds, then start it again."""
        self.stop()
        start = time.time()
        time.sleep(hold)
        end = time.time()
        self.start()
        return {"fault": "redis killed", "start": start, "end": end}


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of the soak's own on ``port``, run as the ``postgres``
    user (the server refuses root); ``restart`` stops it for a while, so the shared cluster
    that other work uses is never touched."""

    def __init__(self, port: int, work: Path) -> None:
        self.port, self.data = port, work / "pgdata"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "-l",
                          str(self.data.parent / "postgres.log"), "-o",
                          f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
                          action)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self.data.parent.chmod(0o777)
            self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._ctl("start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop")

    def restart(self, hold: float) -> dict:
        self.stop()
        start = time.time()
        time.sleep(hold)
        end = time.time()
        self._ctl("start")
        return {"fault": "postgresql stopped", "start": start, "end": end}
