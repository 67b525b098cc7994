"""gunicorn's master keeps the writer process (``store.writer.process``) running: started
before the workers for a SQLite file when ``SQLITE_WRITER`` is "process", started again
whenever it exits, stopped with the server (``config/gunicorn.conf.py``).

Its socket is made in a private directory of its own (mode 0700) and named to the workers in
``CONVERSIONS_SQLITE_WRITER_SOCKET``, which they inherit; beside it, a key drawn once per
master (mode 0600, never logged) that the writer and each worker's connection prove they
hold. PostgreSQL runs concurrent writers in parallel already and gets none, nor does a
database in memory (each process its own). This module imports little of the service:
gunicorn's master must make no Prometheus sample before it empties their directory.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
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
MODULE = "conversions.store.writer.process"
# What the writer reads of the master's configuration (sent as JSON on its standard input).
SETTINGS = ("DATABASE_URL", "SQLITE_SYNCHRONOUS", "SQLITE_BUSY_TIMEOUT_MS", "DURABILITY",
            "WRITE_TIMEOUT_SECONDS")
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


def key_path(address: str) -> str:
    """The file beside the writer's socket that holds its authentication key (mode 0600)."""
    return address + ".key"


def private_address(directory: str) -> str:
    """The writer's socket in ``directory`` (mode 0700), with a new key beside it."""
    address = os.path.join(directory, "writer.sock")
    descriptor = os.open(key_path(address), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(secrets.token_bytes(32))
    return address


def start(address: str, config: Mapping[str, Any]) -> subprocess.Popen[bytes]:
    """Start a writer process on ``address`` (its key beside it) with ``config``'s settings."""
    # A session of its own: a terminal's Ctrl-C reaches the master, which stops it.
    process = subprocess.Popen(  # noqa: S603 (this interpreter)
        [sys.executable, "-m", MODULE, address], stdin=subprocess.PIPE, start_new_session=True)
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError), process.stdin:  # exited at once: restarted
        process.stdin.write(json.dumps({name: config.get(name) for name in SETTINGS}).encode())
    return process


class Supervisor:
    """One writer process on a socket of its own, started again whenever it exits."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.directory = tempfile.mkdtemp(prefix="conversions-writer-")  # mode 0700
        self.socket = private_address(self.directory)
        self.config = dict(config)
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
                process = self.process = start(self.socket, self.config)
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
        _running = Supervisor(config).start()
        os.environ[SOCKET_ENV] = _running.socket
    return _running


def stop() -> None:
    """Stop the writer process started here, if any."""
    global _running
    if _running is not None:
        _running.stop()
        _running = None
        os.environ.pop(SOCKET_ENV, None)
