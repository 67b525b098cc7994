"""gunicorn on a SQLite file, as ``make run`` serves it: its master's writer process runs every
worker's writes; killed under load, it is started again, and every 2xx answered is stored
exactly as answered (the rest are 503s to retry)."""
from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench import faults
from tests import support
from tests.support import Server, http, served_database, until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(support.postgres_pass(), reason="a SQLite file's writer")]


def test_pixels_through_the_writer_process_are_stored_as_answered(tmp_path):
    url, (tenant,) = served_database(tmp_path, ("shop.example.com", "writer-1"))
    env = {"DATABASE_URL": url, "CONVERSIONS_RATELIMIT_INGEST": "1000000 per minute",
           "CONVERSIONS_RATELIMIT_PER_ADDRESS": "1000000 per minute"}
    with Server(env, workers=2, log_path=tmp_path / "gunicorn.log") as server:
        first = until(lambda: faults.writer(server.process.pid), timeout=20, interval=0.05)

        def pixel(n: int) -> tuple[str, int, dict]:
            key = f"e-{n % 300}"  # 300 distinct keys, each sent twice
            status, _, body = http("GET", f"{server.url}/api/conversions/pixel?buyer_id=writer-1"
                                   f"&event_name=signup&event_id={key}",
                                   headers={"Accept": "application/json"})
            return key, status, json.loads(body)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(pixel, range(300)))
            later = [pool.submit(pixel, n) for n in range(300, 600)]
            os.kill(first, signal.SIGKILL)  # under load: some writes in flight
            answers += [future.result() for future in later]
        second = until(lambda: (pid := faults.writer(server.process.pid)) != first and pid,
                       timeout=20, interval=0.05)
        answers.append(pixel(600))  # the restarted writer takes writes again
    assert second != first
    assert answers[-1][1] in (200, 202)
    assert {status for _, status, _ in answers} <= {200, 202, 503}
    assert all(body["error"] == "store_unavailable" for _, status, body in answers
               if status == 503)
    answered = {}
    for key, status, body in answers:
        if status < 300:
            assert answered.setdefault(key, body["event_id"]) == body["event_id"]
    from conversions.store.database import connection
    from conversions.store.models import Event

    with connection():
        rows = {key.removeprefix("id:"): str(event_id) for event_id, key in
                Event.select(Event.id, Event.dedup_key)
                .where(Event.tenant == tenant["tenant_id"]).tuples()}
    assert {key: rows.get(key) for key in answered} == answered  # every 2xx stored as said
    assert len(answered) == 300  # every key answered 2xx at least once


def test_a_stopped_writer_answers_503_in_time_while_health_answers(tmp_path):
    """SIGSTOP, not a crash: writes waiting on the writer answer 503 with Retry-After after
    WRITE_TIMEOUT_SECONDS (never hang), /healthz answers 200 meanwhile, and after SIGCONT every
    event, retried as a client would, is stored exactly once."""
    url, (tenant,) = served_database(tmp_path, ("shop.example.com", "writer-1"))
    env = {"DATABASE_URL": url, "CONVERSIONS_RATELIMIT_INGEST": "1000000 per minute",
           "CONVERSIONS_RATELIMIT_PER_ADDRESS": "1000000 per minute",
           "CONVERSIONS_WRITE_TIMEOUT_SECONDS": "2", "ACCESS_LOG": ""}
    with Server(env, workers=2, log_path=tmp_path / "gunicorn.log") as server:
        writer = until(lambda: faults.writer(server.process.pid), timeout=20, interval=0.05)

        def pixel(key: str) -> tuple[int, dict, dict, float]:
            started = time.monotonic()
            status, headers, body = http(
                "GET", f"{server.url}/api/conversions/pixel?buyer_id=writer-1"
                f"&event_name=signup&event_id={key}", headers={"Accept": "application/json"})
            return status, headers, json.loads(body), time.monotonic() - started

        def health() -> tuple[int, float]:
            started = time.monotonic()
            status, _, _ = http("GET", f"{server.url}/healthz")
            return status, time.monotonic() - started

        assert pixel("warm-up")[0] == 202
        keys = [f"e-{n}" for n in range(24)]  # three for every thread of both workers
        os.kill(writer, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(len(keys)) as pool:
                waiting = [pool.submit(pixel, key) for key in keys]
                checks = []
                while not all(future.done() for future in waiting):  # health meanwhile
                    checks.append(health())
                answers = [future.result() for future in waiting]
        finally:
            os.kill(writer, signal.SIGCONT)
        retried = {key: pixel(key) for key, (status, *_) in zip(keys, answers, strict=True)
                   if status == 503}
    print(f"\nwriter stopped: 503 in {min(a[3] for a in answers):.2f} to "
          f"{max(a[3] for a in answers):.2f} s; {len(checks)} /healthz meanwhile, the first "
          f"in {checks[0][1]:.2f} s, the slowest {max(took for _, took in checks):.2f} s")
    assert checks
    assert {status for status, _ in checks} == {200}
    assert {status for status, *_ in answers} == {503}  # nothing answered 2xx while stopped
    for _, headers, body, _ in answers:
        assert (body["error"], headers["Retry-After"]) == ("store_unavailable", "2")
        assert "may have been stored; retrying is safe" in body["message"]
    assert {status for status, *_ in retried.values()} <= {200, 202}
    from conversions.store.database import connection
    from conversions.store.models import Event

    with connection():
        rows = [(str(event_id), key.removeprefix("id:")) for event_id, key in
                Event.select(Event.id, Event.dedup_key)
                .where(Event.tenant == tenant["tenant_id"]).tuples()]
    assert sorted(key for _, key in rows) == sorted(["warm-up", *keys])  # each once
    stored = {key: event_id for event_id, key in rows}
    assert all(stored[key] == body["event_id"] for key, (_, _, body, _) in retried.items())

