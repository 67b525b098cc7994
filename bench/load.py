"""Running things for the bench: gunicorn servers and wrk, with their results parsed."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them: gunicorn's
    workers (its main thread) and its SQLite writer process (a thread of its own)."""
    found = []
    for children_file in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in children_file.read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


class Gunicorn:
    """``gunicorn <target>`` with the production worker settings on a free loopback port."""

    def __init__(self, target: str, env: dict[str, str], log: Path, ready_path: str = "/"):
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "BENCH_BIND": f"127.0.0.1:{self.port}"}
        self.log = log
        self.ready_path = ready_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "bench/gunicorn.conf.py", self.target],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} exited; see {self.log}")
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.target} did not answer in time; see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the master and its workers have used so far: a figure
        per request that, unlike throughput, holds when other work shares the machine."""
        assert self.process is not None
        pids = [self.process.pid, *children(self.process.pid)]
        ticks = 0
        for pid in pids:
            try:
                # Fields 14 and 15 (utime, stime), counted after the parenthesised name.
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a worker exited meanwhile
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wrk(url: str, script: str, args: list[str], *, seconds: float, connections: int,
        threads: int) -> dict:
    """Drive ``url`` for ``seconds``; returns the summary ``lua/report.lua`` prints."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(LUA / script), url, "--", *args]
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                          timeout=seconds + 120)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line.removeprefix("BENCH_JSON "))
            seconds_run = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds_run
            result["ok"] = result["requests"] - result["non_2xx"]
            return result
    raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
