"""What Prometheus' instruments cost a request, in process: ``python -m bench.metrics_cost``.

The pixel and the signed goal through the WSGI app (middlewares included), in multiprocess
mode as under gunicorn, with the instruments on and off in alternating blocks; the lowest CPU
time per request of each side counts (CPU time, so other work on the machine matters less
than to the throughput ``make bench`` measures). Prints one JSON object.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

BLOCK = 1000
ROUNDS = 8


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="conversions-metrics-cost-") as tmp:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp  # before prometheus_client is imported
        from app import create_app
        from bench import profile
        from conversions.observability import instruments
        from conversions.store.database import connection
        from conversions.tenants import accounts

        app = create_app({"DATABASE_URL": f"sqlite:///{Path(tmp) / 'cost.db'}",
                          "RATELIMIT_INGEST": "100000000 per minute",
                          "RATELIMIT_PER_ADDRESS": "100000000 per minute"})
        with connection():
            tenant = accounts.create(profile.DOMAIN, profile.BUYER)
        figures = {}
        for kind in ("pixel", "goal"):
            lines = profile.requests(kind, tenant, BLOCK * (2 * ROUNDS + 1))
            envs = [profile.environ(line) for line in lines]
            best = {"on": float("inf"), "off": float("inf")}

            def start_response(status: str, headers: list, exc_info: object = None) -> None:
                assert status[0] == "2", status  # noqa: S101

            def run(batch: list[dict]) -> float:
                cpu = time.process_time()
                for env in batch:
                    b"".join(app(env, start_response))
                return (time.process_time() - cpu) / len(batch) * 1e6

            run(envs[:BLOCK])  # warm up
            for n in range(2 * ROUNDS):
                state = ("on", "off")[n % 2]
                instruments.enable(state == "on")
                block = envs[BLOCK * (n + 1):BLOCK * (n + 2)]
                best[state] = min(best[state], run(block))
            instruments.enable(True)
            figures[kind] = {"cpu_us_on": round(best["on"], 1),
                             "cpu_us_off": round(best["off"], 1),
                             "cost_us": round(best["on"] - best["off"], 1),
                             "cost_percent": round((best["on"] / best["off"] - 1) * 100, 1)}
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
