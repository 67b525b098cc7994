"""Profile the service's request path in-process: ``python -m bench.profile KIND [N]``.

KIND: ``goal``, ``pixel``, ``webhook100`` or ``webhook1000``; ``--no-profile``: timing only.

Calls the WSGI app (middleware included) directly, without gunicorn or a socket, so the
figures are the app's own cost per request; with pyinstrument installed it also prints
where that time goes. Relative figures: use them to compare before and after a change.
"""
from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

from bench import signed

DOMAIN = "profile.example.com"
BUYER = "profile-buyer"


def environ(line: str) -> dict:
    method, target, head, body = line.rstrip("\n").split("\t", 3)
    path, _, query = target.partition("?")
    data = body.encode()
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
           "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
           "wsgi.run_once": False, "wsgi.version": (1, 0), "CONTENT_LENGTH": str(len(data))}
    for header in filter(None, head.split("\x1f")):
        name, _, value = header.partition(": ")
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    return env


def requests(kind: str, tenant: dict, count: int) -> list[str]:
    if kind == "goal":
        return list(signed.goals(tenant["tenant_id"], tenant["pixel_secret"], DOMAIN, count,
                                 "profile"))
    if kind == "pixel":
        return [f"GET\t/api/conversions/pixel?buyer_id={BUYER}&source_type=pixel&event_name="
                f"purchase&event_value=12.50&currency=USD&event_id=p{i}\t\t" for i in range(count)]
    if kind.startswith("webhook"):  # webhook100, webhook1000: batches of that many
        size = int(kind.removeprefix("webhook") or 100)
        return list(signed.webhooks(tenant["tenant_id"], tenant["webhook_secret"], count, size,
                                    "profile"))
    raise SystemExit(f"unknown scenario {kind}")


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "goal"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    from app import create_app
    from conversions.store.database import connection
    from conversions.tenants import accounts

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{Path(tmp) / 'p.db'}",
                          "RATELIMIT_INGEST": "100000000 per minute",
                          "RATELIMIT_PER_ADDRESS": "100000000 per minute",
                          "RATELIMIT_ENABLED": "--no-limits" not in sys.argv})
        with connection():
            tenant = accounts.create(DOMAIN, BUYER)
        envs = [environ(line) for line in requests(kind, tenant, count)]
        statuses: dict[str, int] = {}

        def start_response(status: str, headers: list, exc_info: object = None) -> None:
            statuses[status] = statuses.get(status, 0) + 1

        def run(batch: list[dict]) -> None:
            for env in batch:
                b"".join(app(env, start_response))

        warm = min(200, count // 5)
        run(envs[:warm])
        try:
            from pyinstrument import Profiler
        except ImportError:
            Profiler = None  # noqa: N806
        wanted = Profiler and "--no-profile" not in sys.argv
        profiler = Profiler(interval=0.0002) if wanted else None
        if profiler:
            profiler.start()
        started, cpu = time.perf_counter(), time.process_time()
        run(envs[warm:])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        print(json.dumps({"scenario": kind, "requests": count - warm, "statuses": statuses,
                          "us_per_request": round(elapsed / (count - warm) * 1e6, 1),
                          "cpu_us_per_request": round(cpu / (count - warm) * 1e6, 1)}))


if __name__ == "__main__":
    main()
