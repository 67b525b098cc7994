"""/metrics from gunicorn (2 workers and the SQLite writer process) as Prometheus reads it:
every process's samples merged, every family there, counts matching the requests sent
(refusals, duplicates and test events included) and health's, label values bounded under
load with a tenant's series on; a metrics port of its own, kept across a reload; and Debian's
Prometheus server scraping it, whose rates and histogram quantile match the traffic."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from bench import faults
from tests import support
from tests.observability.test_exposition import FAMILIES
from tests.support import Server, http, served_database, until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(support.postgres_pass(), reason="a SQLite file's writer")]

PIXEL = "pixel.track_pixel"
# What no label value may look like: a UUID (tenant), an address, a long token or hex id.
UNBOUNDED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|^\d+\.\d+\.\d+\.\d+$|[A-Za-z0-9_-]{32,}")
# Distinct values a label may take across a scrape; more means it grows with traffic.
MAX_VALUES_A_LABEL = 40


def scrape(url: str) -> list:
    status, _, body = http("GET", f"{url}/metrics")
    assert status == 200, body
    return list(text_string_to_metric_families(body.decode()))


def value(families, name: str, **labels: str) -> float:
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def pixel(url: str, n: int, buyer: str = "prom-1", test: bool = False) -> int:
    status, _, _ = http("GET", f"{url}/api/conversions/pixel?buyer_id={buyer}"
                        f"&event_name=signup&event_id=p-{n}" + ("&test_event_code=T1" * test))
    return status


def served(tmp_path: Path, **env: str):
    url, _ = served_database(tmp_path, ("shop.example.com", "prom-1"),
                             ("other.example.com", "prom-2"))
    env = {"DATABASE_URL": url, "CONVERSIONS_RATELIMIT_INGEST": "1000000 per minute",
           "CONVERSIONS_RATELIMIT_PER_ADDRESS": "1000000 per minute",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "ACCESS_LOG": "", **env}
    return Server(env, workers=2, log_path=tmp_path / "gunicorn.log")


def received(families) -> dict[str, int]:
    """``conversions_events_received_total`` by outcome, the sources summed."""
    counts: dict[str, int] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == "conversions_events_received_total" and sample.value:
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
    return counts


def health_counts(url: str) -> dict[str, int]:
    status, _, body = http("GET", f"{url}/api/conversions/health")
    assert status == 200, body
    answer = json.loads(body)
    return {outcome: n for outcome, n in {**answer["received"], **answer["errors"]}.items() if n}


def test_every_process_merged_counts_match_and_labels_stay_bounded(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"left by an earlier run")
    with served(tmp_path, CONVERSIONS_METRICS_TENANTS="shop.example.com",
                CONVERSIONS_FLUSH_INTERVAL_SECONDS="1") as server:
        first_writer = until(lambda: faults.writer(server.process.pid), timeout=20)
        with ThreadPoolExecutor(8) as pool:
            scrapes = [pool.submit(scrape, server.url) for _ in range(5)]  # under load
            statuses = list(pool.map(lambda n: pixel(server.url, n), range(200)))
            others = list(pool.map(lambda n: pixel(server.url, n, "prom-2"), range(20)))
            again = list(pool.map(lambda n: pixel(server.url, n), range(40)))
            tests = list(pool.map(lambda n: pixel(server.url, n, test=True), range(10)))
            refused = list(pool.map(lambda n: pixel(server.url, n, buyer=f"no-{n}"), range(50)))
            hostile = list(pool.map(lambda n: http(
                "POST", f"{server.url}/api/conversions/webhook/{n}-{'x' * 40}",
                b"{}", {"X-Forwarded-For": f"198.51.100.{n}"})[0], range(30)))
            scrapes = [future.result() for future in scrapes]
        os.kill(first_writer, signal.SIGKILL)
        until(lambda: faults.writer(server.process.pid) not in (None, first_writer),
              timeout=20, interval=0.05)
        until(lambda: value(scrape(server.url), "conversions_store_writer_restarts_total") == 1,
              timeout=10, interval=0.1)
        assert pixel(server.url, 1000) == 200  # the restarted writer commits
        families = scrape(server.url)
        # Each worker saves its tallies every second: health then has what /metrics has.
        health = until(lambda: (found := health_counts(server.url)) == received(families)
                       and found, timeout=20, interval=0.2)
        pids = {path.name.rsplit("_", 1)[-1] for path in (tmp_path / "metrics").glob("*.db")}
    assert (statuses, others, again, tests, refused, set(hostile)) == (
        [200] * 200, [200] * 20, [200] * 40, [200] * 10, [400] * 50, {404})
    assert not FAMILIES - {family.name for family in families}
    assert value(families, "conversions_http_requests_total", endpoint=PIXEL,
                 status="2xx") == 271
    assert value(families, "conversions_http_requests_total", endpoint=PIXEL,
                 status="4xx") == 50
    assert value(families, "conversions_http_requests_total", endpoint="none",
                 status="4xx") == 30
    assert health == {"accepted": 221, "duplicate": 40, "test": 10, "unknown_buyer": 50}
    assert value(families, "conversions_events_received_total", source="pixel",
                 outcome="accepted") == 221
    tenant_series = {(sample.labels["tenant"], sample.labels["outcome"]): sample.value
                     for family in families for sample in family.samples
                     if sample.name == "conversions_tenant_events_received_total"}
    assert tenant_series == {("shop.example.com", "accepted"): 201,
                             ("shop.example.com", "duplicate"): 40,
                             ("shop.example.com", "test"): 10, ("other", "accepted"): 20,
                             ("other", "unknown_buyer"): 50}
    # The commits ran in the writer process: its samples are in the merge.
    assert value(families, "conversions_store_commit_group_size_sum") >= 221
    assert value(families, "conversions_store_writer_restarts_total") == 1
    assert len(pids) >= 4  # two workers, the writer (twice) and the master wrote samples
    assert len(answered_by(tmp_path / "metrics")) == 2  # the merge holds both workers' answers
    assert "999999.db" not in pids  # an earlier run's file was wiped at start
    for families_ in (*scrapes, families):
        assert_bounded(families_)


def answered_by(directory: Path) -> set[str]:
    """The processes whose own samples count pixel requests (each file read on its own)."""
    pids = set()
    for path in directory.glob("counter_*.db"):
        alone = directory.parent / f"alone-{path.name}"
        alone.mkdir()
        shutil.copy(path, alone)
        if value(list(multiprocess.MultiProcessCollector(None, path=str(alone)).collect()),
                 "conversions_http_requests_total", endpoint=PIXEL):
            pids.add(path.stem.rsplit("_", 1)[-1])
    return pids


def assert_bounded(families) -> None:
    seen: dict[tuple[str, str], set[str]] = {}
    for family in families:
        for sample in family.samples:
            for label, text in sample.labels.items():
                assert not UNBOUNDED.search(text), (sample.name, label, text)
                seen.setdefault((family.name, label), set()).add(text)
    wide = {key: len(values) for key, values in seen.items() if len(values) > MAX_VALUES_A_LABEL}
    assert not wide, wide


def test_a_metrics_port_of_its_own_answers_metrics_alone_and_outlives_a_reload(tmp_path):
    metrics_port = support.free_port()
    metrics = f"http://127.0.0.1:{metrics_port}"
    with served(tmp_path, CONVERSIONS_METRICS_BIND=f"127.0.0.1:{metrics_port}",
                CONVERSIONS_ADMIN_TOKEN="s3cret") as server:
        assert pixel(server.url, 1) == 200
        assert value(scrape(metrics), "conversions_events_received_total",
                     outcome="accepted") == 1  # no token asked there
        assert http("GET", f"{metrics}/api/conversions/health")[0] == 404
        assert http("GET", f"{server.url}/metrics")[0] == 401  # the token, on the service's
        before = set(faults.workers(server.process.pid))
        server.process.send_signal(signal.SIGHUP)
        until(lambda: len(after := set(faults.workers(server.process.pid))) == 2
              and not after & before, timeout=30, interval=0.1)
        until(lambda: http("GET", f"{metrics}/metrics")[0] == 200, timeout=10, interval=0.1)
        assert value(scrape(metrics), "conversions_events_received_total",
                     outcome="accepted") == 1
    log = (tmp_path / "gunicorn.log").read_text()
    assert f"serving Prometheus' /metrics at {metrics}/metrics" in log
    assert f"serving {server.url} with 2 workers" in log


def test_a_metrics_port_that_is_the_service_port_stops_the_start(tmp_path):
    server = served(tmp_path)
    server.env["CONVERSIONS_METRICS_BIND"] = f"127.0.0.1:{server.port}"
    with pytest.raises(RuntimeError, match="gunicorn exited"):
        server.start()
    assert "must use a port of its own" in (tmp_path / "gunicorn.log").read_text()


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        support.missing("Prometheus is not installed (apt-get install prometheus): "
                        "the real scrape is not tested")
    return found


def query(base: str, promql: str, at: float | None = None) -> float:
    """An instant query's one value (``at``: its evaluation time, Unix seconds)."""
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    status, _, body = http("GET", f"{base}/api/v1/query?" + urllib.parse.urlencode(params))
    assert status == 200, body
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def scraping(base: str) -> bool:
    """Whether Prometheus answers and has scraped the service successfully."""
    try:
        return query(base, 'up{job="conversions"}') == 1
    except OSError:
        return False


# Longer than the pixel's series have existed, evaluated at their last scrape: increase()
# then extrapolates neither back before their first sample (a counter stops at zero) nor
# forward, so it is what was sent, give or take the first sample's share.
window = 120


def test_a_real_prometheus_scrapes_rates_and_a_quantile_that_match(tmp_path):
    binary = prometheus_binary()
    with served(tmp_path) as server:
        port = support.free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "conversions", "static_configs": [
                {"targets": [f"127.0.0.1:{server.port}"]}]}]}))
        prometheus = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
        base = f"http://127.0.0.1:{port}"
        try:
            until(lambda: scraping(base), timeout=60, interval=0.5)
            # The series exist before the traffic is counted: increase() starts from there.
            assert (pixel(server.url, -1), pixel(server.url, -1, "no-prime")) == (200, 400)
            time.sleep(3)
            sent = 300
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(lambda n: pixel(server.url, n), range(sent))) == {200}
                assert set(pool.map(lambda n: pixel(server.url, n, f"no-{n}"), range(40))) \
                    == {400}
            time.sleep(4)  # the last samples scraped
            ours = scrape(server.url)
            total = until(lambda: (n := query(
                base, f'sum(conversions_http_requests_total{{endpoint="{PIXEL}",'
                      f'status="2xx"}})')) == sent + 1 and n, timeout=10, interval=0.5)
            last = query(base, 'max(timestamp(conversions_http_requests_total'
                               f'{{endpoint="{PIXEL}"}}))')
            increase = query(base, f'sum(increase(conversions_http_requests_total'
                                   f'{{endpoint="{PIXEL}",status="2xx"}}[{window}s]))', last)
            refusals = query(base, 'sum(increase(conversions_events_received_total{source='
                                   f'"pixel",outcome!~"accepted|duplicate|test"}}[{window}s]))',
                             last)
            rate = query(base, f'sum(rate(conversions_http_requests_total'
                               f'{{endpoint="{PIXEL}"}}[{window}s]))', last)
            quantile = query(base, 'histogram_quantile(0.9, sum by (le) (rate('
                             f'conversions_http_request_duration_seconds_bucket{{endpoint="{PIXEL}"'
                             f'}}[{window}s])))', last)
        finally:
            prometheus.terminate()
            prometheus.wait(20)
    expected_quantile = bucket_quantile(ours, 0.9)
    report = {"sent": sent, "counter": total, "increase": increase, "refusals": refusals,
              "rate_per_s": rate, "window_s": window, "p90_prometheus": quantile,
              "p90_from_buckets": expected_quantile}
    print("prometheus scrape:", json.dumps(report))
    assert increase == pytest.approx(sent, rel=0.02), report
    assert refusals == pytest.approx(40, rel=0.05), report
    assert rate * window == pytest.approx(sent + 40, rel=0.02), report
    assert quantile == pytest.approx(expected_quantile, rel=0.05), report


def bucket_quantile(families, q: float) -> float:
    """The quantile of the pixel's latency by Prometheus' rule (linear within a bucket)."""
    buckets = sorted((float(sample.labels["le"]), sample.value) for family in families
                     for sample in family.samples
                     if sample.name == "conversions_http_request_duration_seconds_bucket"
                     and sample.labels.get("endpoint") == PIXEL)
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0) + count
    bounds = sorted(merged)
    rank = q * merged[float("inf")]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if merged[bound] >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / (merged[bound] - below)
        lower, below = bound, merged[bound]
    raise AssertionError("no +Inf bucket")
