"""Cross-channel settlement under concurrency, and on random histories against a brute-force
recount: the optimizer's figures and coverage count each conversion once, with the winner's
value, across the window's edges, aggregation batches, approvals, replays and the prune."""
from __future__ import annotations

import threading
from collections import defaultdict

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conversions.core.periods import DAY_MS, HOUR_MS
from conversions.core.sources import SOURCES
from conversions.monitoring import coverage
from conversions.rollups import aggregation, figures
from conversions.store import cross_channel, events, prepared, retention, rollups
from conversions.store.database import connection, database, is_postgres
from conversions.store.event_keys import EventKey
from conversions.store.models import (
    ConversionClaim,
    DailyAggregate,
    Event,
    HourlyAggregate,
    HourlyCoverage,
    JobCursor,
    RollupRefresh,
    SupersededEvent,
)

BASE = 1_795_132_800_000  # 2026-11-20T00:00:00Z
WINDOW_MS = 48 * HOUR_MS
SPAN = (BASE - DAY_MS, BASE + 8 * DAY_MS)


def row(tenant_id: str, source: str, event_id: str, value: int | None, occurred: int,
        received: int, name: str = "purchase") -> dict:
    key = f"id:{event_id}" if source != "postback" else f"pb:generic:id:{event_id}"
    return {"tenant": tenant_id, "source_type": source, "signed": source != "pixel",
            "event_name": name, "value_hundredths": value,
            "currency": "USD" if value is not None else None, "occurred_at_ms": occurred,
            "received_at_ms": received, "dedup_key": key}


def store(rows: list[dict]) -> None:
    """Each row as its own write: stored, then settled, in one transaction."""
    for each in rows:
        with database.atomic():
            result = prepared.insert_event(each)
            cross_channel.settle([each], [result], WINDOW_MS)


def test_a_pixel_and_a_webhook_at_the_same_instant_count_once(app, tenant):
    """Each report in its own thread, transaction and connection (on PostgreSQL, as two
    instances would be): the claim's row lets one settle after the other."""
    tenant_id = tenant["tenant_id"]
    pairs = 20
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def send(source: str, value: int) -> None:
        try:
            with app.app_context(), connection():
                for n in range(pairs):
                    start.wait(timeout=30)
                    store([row(tenant_id, source, f"o-{n}", value, BASE, BASE + n)])
        except BaseException as err:  # reported below
            failures.append(err)
            start.abort()

    threads = [threading.Thread(target=send, args=args) for args in
               (("pixel", 100), ("webhook", 250))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with app.app_context(), connection():
        buckets = figures.by_period(tenant_id, *SPAN, "day", by_name=False)
        assert {key[1]: value for key, value in buckets.items()} == {
            "pixel": [0, 0, pairs], "webhook": [pairs, 250 * pairs, 0]}
        total = coverage.coverage(tenant_id, *SPAN)["total"]
        assert (total["server"], total["browser"], total["both"]) == (pairs, pairs, pairs)


def test_two_writes_claiming_the_same_conversions_in_opposite_orders_both_commit(app, tenant):
    """A batch of pixels and an import of the same ids listed the other way round, each in
    its own transaction and connection, released together: the claims are locked in one
    order, so neither transaction waits on the other while holding what it waits for (on
    PostgreSQL such a deadlock aborts one; nothing here retries it)."""
    tenant_id = tenant["tenant_id"]
    rounds, size = 10, 20
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def send(source: str, value: int, order: int) -> None:
        try:
            with app.app_context(), connection():
                for n in range(rounds):
                    rows = [row(tenant_id, source, f"r{n}-{i:02}", value, BASE, BASE + n)
                            for i in range(size)][::order]
                    start.wait(timeout=30)
                    with database.atomic():
                        if source == "pixel":
                            cross_channel.settle(rows, prepared.insert_events(rows), WINDOW_MS)
                        else:
                            _, stored = prepared.insert_new_events(rows)
                            cross_channel.settle([each for each, _ in stored],
                                                 [(event_id, False) for _, event_id in stored],
                                                 WINDOW_MS)
        except BaseException as err:  # reported below
            failures.append(err)
            start.abort()

    threads = [threading.Thread(target=send, args=args) for args in
               (("pixel", 100, 1), ("import", 250, -1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    conversions = rounds * size
    with app.app_context(), connection():
        buckets = figures.by_period(tenant_id, *SPAN, "day", by_name=False)
        assert {key[1]: value for key, value in buckets.items()} == {
            "pixel": [0, 0, conversions], "import": [conversions, 250 * conversions, 0]}
        total = coverage.coverage(tenant_id, *SPAN)["total"]
        assert (total["server"], total["browser"], total["both"]) == (conversions,) * 3


def test_a_pixel_taken_over_while_its_hour_is_recomputed_counts_nowhere(app, tenant,
                                                                       monkeypatch):
    """A recomputation (of an import's or a replay's hours) reads them outside its write: a
    webhook taking over a pixel of those hours meanwhile has them read again."""
    tenant_id = tenant["tenant_id"]
    read_hours = rollups.hour_groups
    reads = []

    def takeover_meanwhile(*args: object) -> list:
        groups = read_hours(*args)
        if not reads:  # as a webhook on another instance would, received now
            store([row(tenant_id, "webhook", "o-1", 250, BASE, BASE + 2 * HOUR_MS)])
        reads.append(args)
        return groups

    with app.app_context(), connection():
        store([row(tenant_id, "pixel", "o-1", 100, BASE, BASE)])
        aggregation.aggregate(BASE + HOUR_MS)  # the pixel is in the rollups
        aggregation.request_refresh(tenant_id, [BASE])  # as a replay behind the cursor does
        monkeypatch.setattr(rollups, "hour_groups", takeover_meanwhile)
        aggregation.aggregate(BASE + HOUR_MS)
        buckets = figures.by_period(tenant_id, *SPAN, "day", by_name=False)
    assert len(reads) == 2
    assert {key[1]: value for key, value in buckets.items()} == {
        "pixel": [0, 0, 1], "webhook": [1, 250, 0]}


def brute(rows: list[dict]) -> tuple[dict, dict]:
    """The counted reports' periods (as ``figures.by_period`` by day) and coverage's total,
    recounted from the stored arrivals in receipt order (the rollups outlive a prune)."""
    claims: dict[tuple, dict] = {}
    counted: dict[int, bool] = {}
    conversions = []
    for index, each in sorted(enumerate(rows), key=lambda pair: pair[1]["received_at_ms"]):
        server = SOURCES[each["source_type"]].authenticated
        identity = (each["event_name"], each["dedup_key"].rpartition("id:")[2])
        claim = claims.get(identity)
        if claim is None or abs(each["received_at_ms"] - claim["received"]) > WINDOW_MS:
            claim = {"received": each["received_at_ms"], "winner": index, "server": None,
                     "browser": None}
            claims[identity] = claim
            conversions.append(claim)
            counted[index] = True
        elif server and claim["server"] is None:
            counted[claim["winner"]] = False
            counted[index] = True
            claim["winner"] = index
        else:
            counted[index] = False
        side = "server" if server else "browser"
        if claim[side] is None:
            claim[side] = (each["value_hundredths"], each["currency"])
    days: dict = defaultdict(lambda: [0, 0, 0])
    for index, each in enumerate(rows):
        key = (each["occurred_at_ms"] - each["occurred_at_ms"] % DAY_MS, each["source_type"],
               "", each["currency"] or "")
        if counted[index]:
            days[key][0] += 1
            days[key][1] += each["value_hundredths"] or 0
        else:
            days[key][2] += 1
    total = {"server": 0, "browser": 0, "both": 0, "value_mismatches": 0}
    for claim in conversions:
        total["server"] += claim["server"] is not None
        total["browser"] += claim["browser"] is not None
        both = claim["server"] is not None and claim["browser"] is not None
        total["both"] += both
        total["value_mismatches"] += both and claim["server"] != claim["browser"]
    return dict(days), total


@st.composite
def arrivals(draw):
    """Reports of a few conversions by the pixel, webhooks and postbacks, out of order, some
    a window or more apart, a source's consecutive reports perhaps stored together (the bulk
    path); aggregation runs between them at random, in small batches."""
    count = draw(st.integers(1, 24))
    rows, runs = [], []
    for _ in range(count):
        source = draw(st.sampled_from(["pixel", "pixel", "webhook", "postback"]))
        event_id = draw(st.sampled_from(["a", "b", "c"]))
        received = BASE + draw(st.sampled_from([0, 1, WINDOW_MS, WINDOW_MS + 1, 3 * DAY_MS])
                               | st.integers(0, 5 * DAY_MS))
        occurred = received - draw(st.sampled_from([0, 1, HOUR_MS]) | st.integers(0, DAY_MS))
        rows.append(row("", source, event_id, draw(st.none() | st.sampled_from([100, 250])),
                        occurred, received, draw(st.sampled_from(["purchase", "lead"]))))
        runs.append(draw(st.booleans()))
    joins = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return rows, runs, joins, draw(st.integers(1, 5)), draw(st.booleans())


def writes(rows: list[dict], runs: list[bool], joins: list[bool]) -> list[tuple[list[dict], bool]]:
    """The rows in receipt order as writes: a row joins the write before it when ``joins``
    says so and that write's reports are of its source; each write with whether aggregation
    runs after it."""
    found: list[tuple[list[dict], bool]] = []
    for each, run, join in sorted(zip(rows, runs, joins, strict=True),
                                  key=lambda item: item[0]["received_at_ms"]):
        if join and found and found[-1][0][0]["source_type"] == each["source_type"]:
            found[-1] = (found[-1][0] + [each], run)
        else:
            found.append(([each], run))
    return found


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=arrivals())
def test_figures_and_coverage_equal_a_recount(app, tenant, monkeypatch, history):
    note(repr(history))
    rows, runs, joins, batch, prune = history
    monkeypatch.setattr(aggregation, "BATCH_EVENTS", batch)
    tenant_id = tenant["tenant_id"]
    rows = [{**each, "tenant": tenant_id} for each in rows]
    with app.app_context(), connection():
        for model in (SupersededEvent, ConversionClaim, HourlyCoverage, Event, HourlyAggregate,
                      DailyAggregate, RollupRefresh, JobCursor):
            model.delete().execute()
        if is_postgres():  # the events' keys (store.event_keys), which go with the events
            EventKey.delete().execute()
        # Stored in receipt order (as they arrive): a report alone as the pixel and the
        # webhooks store it, several as an import does, each write perhaps then aggregated.
        kept, seen = [], set()
        for stored, run in writes(rows, runs, joins):
            if len(stored) == 1:
                store(stored)
            else:
                events.insert_new(stored)
            for each in stored:  # a duplicate of its source is not stored again
                if (each["source_type"], each["dedup_key"]) not in seen:
                    seen.add((each["source_type"], each["dedup_key"]))
                    kept.append(each)
            if run:  # the events received before the write's last
                aggregation.aggregate(stored[-1]["received_at_ms"])
        if prune:
            aggregation.aggregate(BASE + 9 * DAY_MS)
            retention.prune_events(BASE + DAY_MS, aggregation.cursor_ms())
            marked = [event for (event,) in SupersededEvent.select(SupersededEvent.event).tuples()]
            assert Event.select().where(Event.id.in_(marked)).count() == len(marked)
        days, total = brute(kept)
        assert figures.by_period(tenant_id, *SPAN, "day", by_name=False) == days
        got = coverage.coverage(tenant_id, *SPAN)["total"]
        assert {k: got[k] for k in total} == total
