"""Open-loop load: requests sent on a fixed schedule, whatever the answers' pace (wrk2-style).

Request ``i`` is due at ``start + i / rate`` and its latency counts from then, so a server
that falls behind shows its backlog (no coordinated omission); docs/performance.md says why.
HTTP/1.1 keep-alive over asyncio streams, framed by ``h11``; an HDR histogram of latencies.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator

import h11
from hdrh.histogram import HdrHistogram

Request = tuple[str, str, list[tuple[str, str]], bytes]  # method, target, headers, body


def parse_line(line: str) -> Request:
    """A request of the bench's line format (``METHOD<TAB>PATH<TAB>H: v<US>H: v<TAB>BODY``)."""
    method, target, head, body = line.rstrip("\n").split("\t", 3)
    headers = [tuple(h.split(": ", 1)) for h in head.split("\x1f") if h]
    return method, target, headers, body.encode()  # type: ignore[return-value]


async def _connection(host: str, port: int, due: Iterator[tuple[float, Request]],
                      stop_at: float, histogram: HdrHistogram, outcome: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    conn = h11.Connection(h11.CLIENT)
    loop = asyncio.get_running_loop()
    try:
        for when, (method, target, headers, body) in due:
            if when >= stop_at:
                return
            delay = when - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            head = [("Host", f"{host}:{port}"), *headers, ("Content-Length", str(len(body)))]
            writer.write(conn.send(h11.Request(method=method, target=target, headers=head))
                         + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("closed by the server")
                    conn.receive_data(data)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            histogram.record_value(max(1, int((loop.time() - when) * 1e6)))
            outcome["2xx" if 200 <= status < 300 else "other"] += 1
            conn.start_next_cycle()
    finally:
        writer.close()


async def _drive(host: str, port: int, requests: Callable[[int], Request], rate: float,
                 seconds: float, connections: int) -> dict:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    histogram = HdrHistogram(1, 60_000_000, 3)
    outcome = {"2xx": 0, "other": 0}
    # One schedule shared by every connection: whichever is free sends the next due request.
    due = ((start + i / rate, requests(i)) for i in itertools.count())
    began = time.monotonic()
    await asyncio.gather(*(_connection(host, port, due, start + seconds, histogram, outcome)
                           for _ in range(connections)))
    elapsed = time.monotonic() - began - 0.2
    return {"rate": rate, "requests": outcome["2xx"] + outcome["other"],
            "ok": outcome["2xx"], "non_2xx": outcome["other"],
            "achieved_rps": (outcome["2xx"] + outcome["other"]) / max(elapsed, 1e-9),
            "p50_us": histogram.get_value_at_percentile(50),
            "p99_us": histogram.get_value_at_percentile(99),
            "max_us": histogram.get_max_value()}


def run(url: str, requests: Callable[[int], Request], *, rate: float, seconds: float,
        connections: int) -> dict:
    """Send ``requests(i)`` at ``rate`` a second for ``seconds`` over ``connections``."""
    host, _, port = url.removeprefix("http://").partition(":")
    return asyncio.run(_drive(host, int(port), requests, rate, seconds, connections))
