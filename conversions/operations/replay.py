"""Replaying dead letters: re-validate with today's rules and configuration, store once.

Each source names how a kept payload becomes event rows (``REVALIDATORS``). The rows carry
the same dedup key the original would have had, and the dead letter is marked replayed in the
same transaction, so replaying twice (or racing another replay) stores the event once.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from conversions.core import clock, sources, taxonomy
from conversions.ingest.events import goal_row, webhook_rows
from conversions.ingest.postback_rows import postback_rows
from conversions.rollups import aggregation, tally
from conversions.store import dead_letters
from conversions.store.database import connection, database
from conversions.store.events import insert_batch
from conversions.store.models import IngestionFailure
from conversions.web.errors import ApiError

# source -> (tenant id, payload, received at in Unix seconds) -> rows to store
Revalidator = Callable[[str, Any, float], list[dict[str, Any]]]


# One for each replayable source of the registry (tests/core/test_sources.py checks).
REVALIDATORS: dict[str, Revalidator] = {
    sources.GOAL.name: lambda tenant_id, payload, at: [goal_row(tenant_id, payload, at)],
    sources.WEBHOOK.name: webhook_rows,
    sources.POSTBACK.name: postback_rows,
}


def delivery(failure: IngestionFailure, event_count: int) -> dict[str, Any] | None:
    """The webhook delivery a replay records, so it and the sender's own retry store once."""
    if not failure.delivery_id:
        return None
    window_ms = int(current_app.config["REPLAY_WINDOW_SECONDS"]) * 1000
    return {"tenant": failure.tenant_id, "message_id": failure.delivery_id,
            "received_at_ms": failure.received_at_ms, "event_count": event_count,
            "window_start_ms": clock.now_ms() - window_ms}


def event_id(failure: IngestionFailure) -> str | None:
    """The event a replay stored (None when the delivery was already there)."""
    return None if failure.event_id is None else str(failure.event_id)


def replay(failure: IngestionFailure) -> dict[str, Any]:
    """Try one dead letter again; the outcome is ``stored``, ``duplicate`` (the event was
    stored already, e.g. sent again by its sender), ``already_replayed`` or
    ``still_rejected`` (with the error and fields of today's rules)."""
    outcome: dict[str, Any] = {"id": str(failure.id)}
    if failure.replayed_at_ms is not None:
        return {**outcome, "outcome": "already_replayed", "event_id": event_id(failure)}
    revalidate = REVALIDATORS.get(failure.source_type)
    if not failure.replayable or revalidate is None:
        raise ApiError(409, "not_replayable",
                       "This dead letter's payload was masked or truncated; it cannot be "
                       "replayed. Have the sender send the event again, corrected.")
    try:
        rows = revalidate(failure.tenant_id, dead_letters.payload_of(failure),
                          failure.received_at_ms / 1000)
    except ApiError as err:
        return {**outcome, "outcome": "still_rejected", "error": err.error,
                "fields": err.extra.get("fields")}
    with database.atomic():
        # Claim the dead letter first: a concurrent replay waits here, then finds it claimed.
        claimed = (IngestionFailure.update(replayed_at_ms=clock.now_ms())
                   .where(IngestionFailure.id == failure.id,
                          IngestionFailure.replayed_at_ms.is_null())
                   .execute())
        if not claimed:
            failure = IngestionFailure.get_by_id(failure.id)
            return {**outcome, "outcome": "already_replayed", "event_id": event_id(failure)}
        results = insert_batch(rows, delivery(failure, len(rows)))
        if results is None:  # the sender has since delivered the same webhook-id
            return {**outcome, "outcome": "duplicate", "event_id": None}
        (IngestionFailure.update(event_id=results[0][0])
         .where(IngestionFailure.id == failure.id).execute())
        # Stored with the dead letter's receive time, which the rollups may have passed.
        aggregation.request_refresh(failure.tenant_id,
                                    [row["occurred_at_ms"] for row, (_, duplicate)
                                     in zip(rows, results, strict=True) if not duplicate])
    new = sum(1 for _, duplicate in results if not duplicate)
    if new:
        tally.accepted(failure.tenant_id, failure.source_type, new)
    return {**outcome, "outcome": "stored" if new else "duplicate",
            "event_id": str(results[0][0])}


failures_cli = AppGroup("failures", help="Replay dead letters in bulk.",
                        short_help="Replay dead letters in bulk, by reason.")


@failures_cli.command("replay")
@click.option("--reason", required=True, type=click.Choice(taxonomy.dead_letter_codes()),
              help="Replay the dead letters kept with this code.")
@click.option("--tenant-id", default=None, help="Only this tenant's.")
@click.option("--limit", type=click.IntRange(min=1), default=10_000)
def replay_command(reason: str, tenant_id: str | None, limit: int) -> None:
    """Replay every pending dead letter with REASON; print the outcomes counted."""
    outcomes: Counter[str] = Counter()
    with connection():
        query = IngestionFailure.select().where(IngestionFailure.reason == reason,
                                                IngestionFailure.replayed_at_ms.is_null())
        if tenant_id:
            query = query.where(IngestionFailure.tenant == tenant_id)
        for failure in query.order_by(IngestionFailure.id).limit(limit):
            try:
                outcomes[replay(failure)["outcome"]] += 1
            except ApiError as err:
                outcomes[err.error] += 1
    click.echo(json.dumps({"reason": reason, "outcomes": dict(outcomes)}, indent=2))


def init_app(app: Flask) -> None:
    app.cli.add_command(failures_cli)
