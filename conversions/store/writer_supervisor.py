"""gunicorn's master keeps the writer process (``store.writer_process``) running: started
before the workers for a SQLite file when ``SQLITE_WRITER`` is "process", started again
whenever it exits, stopped with the server (``config/gunicorn.conf.py``).

Its socket is made in a private directory of its own (mode 0700) and named to the workers in
``CONVERSIONS_SQLITE_WRITER_SOCKET``, which they inherit. PostgreSQL runs concurrent writers
in parallel already and gets none, nor does a database in memory (each process its own).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from conversions.store.database import sqlite_file

SOCKET_ENV = "CONVERSIONS_SQLITE_WRITER_SOCKET"
MODULE = "conversions.store.writer_process"
# How long the first start may take before the workers begin (they write in process meanwhile).
START_SECONDS = 15.0
# Between restarts of a writer that keeps exiting.
RESTART_PAUSE_SECONDS = 0.5

log = logging.getLogger(__name__)
# Called in the master with the pid of each writer process that exited and is started again
# (config/gunicorn.conf.py counts the restart for Prometheus).
exit_hooks: list[Callable[[int], None]] = []


def wanted(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` asks for a writer process and names a SQLite file."""
    mode = str(config.get("SQLITE_WRITER") or "inline").lower()
    if mode not in ("process", "inline"):
        raise ValueError(f"SQLITE_WRITER must be process or inline, not {mode}")
    return mode == "process" and bool(sqlite_file(str(config["DATABASE_URL"])))


class Supervisor:
    """One writer process on a socket of its own, started again whenever it exits."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.directory = tempfile.mkdtemp(prefix="conversions-writer-")  # mode 0700
        self.socket = os.path.join(self.directory, "writer.sock")
        self.env = dict(os.environ if env is None else env)
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._lock = threading.Lock()  # no process started once stop() began
        self._thread = threading.Thread(target=self._keep, name="sqlite-writer", daemon=True)

    def start(self) -> Supervisor:
        """Start the writer and return once it listens (or ``START_SECONDS`` passed)."""
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and not self.listening():
            time.sleep(0.02)
        return self

    def listening(self) -> bool:
        """Whether the socket is there (the writer binds it only when ready to serve)."""
        return os.path.exists(self.socket)

    def stop(self) -> None:
        """Stop the writer (it finishes the group in hand) and remove its directory."""
        with self._lock:
            self._stopping = True
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _keep(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                # A session of its own: a terminal's Ctrl-C reaches the master, which stops it.
                process = self.process = subprocess.Popen(  # noqa: S603 (this interpreter)
                    [sys.executable, "-m", MODULE, self.socket], env=self.env,
                    start_new_session=True)
            code = process.wait()  # gunicorn's master may reap it first: then 0
            if self._stopping:
                return
            log.warning("writer process exited (%s); starting another", code)
            for hook in exit_hooks:
                hook(process.pid)
            time.sleep(RESTART_PAUSE_SECONDS)


_running: Supervisor | None = None


def start_if_wanted(config: Mapping[str, Any]) -> Supervisor | None:
    """In gunicorn's master: the writer process, if ``config`` wants one; its socket named in
    the environment the workers inherit."""
    global _running
    if _running is None and wanted(config):
        _running = Supervisor().start()
        os.environ[SOCKET_ENV] = _running.socket
    return _running


def stop() -> None:
    """Stop the writer process started here, if any."""
    global _running
    if _running is not None:
        _running.stop()
        _running = None
        os.environ.pop(SOCKET_ENV, None)
