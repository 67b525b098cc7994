"""Flame graphs of the running service: ``python -m bench.flame NAME [SCENARIO ...]``.

Starts the service under gunicorn exactly as ``make bench`` does, drives each scenario
(``pixel``, ``goal``, ``webhook100``, ``webhook1000``) with wrk at the bench's concurrency,
and meanwhile samples the master and every worker with py-spy (``--subprocesses``); writes
``bench/results/flame-NAME-SCENARIO.svg``. ``BENCH_SECONDS`` (10) sets how long each is
sampled. py-spy needs ptrace rights (root, or ``kernel.yama.ptrace_scope=0``).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import load, run, scenarios, signed

RESULTS = run.ROOT / "bench" / "results"
PY_SPY = Path(sys.executable).with_name("py-spy")


def requests_for(kind: str, service: scenarios.Service, tmp: Path) -> tuple[str, list[str]]:
    """The wrk script and its arguments that send ``kind``, every request distinct."""
    tenant = service.tenant
    if kind == "pixel":
        return "pixel.lua", [scenarios.PIXEL_PATH, f"flame-{signed.TAG_SAFE}"]
    if kind == "goal":
        lines = signed.goals(tenant["tenant_id"], tenant["pixel_secret"], scenarios.DOMAIN,
                             int(3000 * (run.SECONDS + 2)), f"flame-{signed.TAG_SAFE}")
    else:
        size = int(kind.removeprefix("webhook"))
        lines = signed.webhooks(tenant["tenant_id"], tenant["webhook_secret"],
                                int(40000 * (run.SECONDS + 2) / size) + 20, size,
                                f"flame-{size}-{signed.TAG_SAFE}")
    return "replay.lua", [str(signed.write(tmp / f"{kind}.txt", lines)), str(run.THREADS)]


def record(name: str, kinds: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="conversions-flame-") as tmp_name:
        tmp = Path(tmp_name)
        service = scenarios.Service(tmp, "normal")
        with service.serve() as server:
            for kind in kinds:
                script, args = requests_for(kind, service, tmp)
                out = RESULTS / f"flame-{name}-{kind}.svg"
                drive = threading.Thread(target=load.wrk, args=(server.url, script, args),
                                         kwargs={"seconds": run.SECONDS + 2,
                                                 "connections": run.CONNECTIONS,
                                                 "threads": run.THREADS})
                drive.start()
                subprocess.run([str(PY_SPY), "record", "--pid", str(server.process.pid),
                                "--subprocesses", "--duration", str(round(run.SECONDS)),
                                "--rate", "250", "--nonblocking", "--format", "flamegraph",
                                "--output", str(out)],
                               check=True, stdout=subprocess.DEVNULL)
                drive.join()
                # Paths relative to the repository, so the graph names no place on this machine.
                out.write_text(out.read_text().replace(f"{run.ROOT}/", ""))
                print(f"written: {out.relative_to(run.ROOT)}", flush=True)


if __name__ == "__main__":
    record(sys.argv[1], sys.argv[2:] or ["pixel", "goal", "webhook100"])
