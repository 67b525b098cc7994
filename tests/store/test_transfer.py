"""``flask --app app export`` / ``import``: every row moves, and a second import adds nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from peewee import fn

from app import create_app
from conversions.store.database import connection
from conversions.store.events import insert_event
from conversions.store.export import TABLES
from conversions.store.models import Event, SigningKey, Tenant, TenantSetting, WebhookDelivery
from conversions.tenants import accounts, settings
from tests import support

MOVED = [model._meta.table_name for model in TABLES]


def seed() -> list[dict]:
    """Two tenants with rotated keys, settings, events of every kind, webhook deliveries."""
    created = [accounts.create("shop.example.com", "buyer-1"), accounts.create("b.example")]
    with connection():
        accounts.rotate(created[0]["tenant_id"], "pixel", grace_seconds=3600)
        settings.put(created[0]["tenant_id"], "rate_limit.pixel", "50 per minute")
        settings.put(created[1]["tenant_id"], "freshness_window_seconds", "3600")
        for index in range(30):
            owner = created[index % 2]["tenant_id"]
            source = ("pixel", "webhook", "goal")[index % 3]
            insert_event({
                "tenant": owner, "source_type": source, "signed": source != "pixel",
                "event_name": "purchase",
                "value_hundredths": None if index % 7 == 0 else index * 101,
                "currency": "EUR" if index % 2 else "USD", "session_id": f"s-{index}",
                "properties": json.dumps({"plan": "pro", "note": "é"}),
                "occurred_at_ms": 10 + index, "received_at_ms": 20 + index,
                # pixel hits without an event_id have no idempotency key
                "dedup_key": None if source == "pixel" and index % 2 else f"id:e-{index}",
            })
        WebhookDelivery.create(tenant=created[0]["tenant_id"], message_id="msg_1",
                               received_at_ms=5, event_count=2)
    return created


def figures() -> dict:
    """What must survive the move: rows of each table, event counts and value sums."""
    with connection():
        by_source = (Event.select(Event.tenant, Event.source_type, fn.COUNT(Event.id),
                                  fn.SUM(Event.value_hundredths))
                     .group_by(Event.tenant, Event.source_type).tuples())
        return {
            "rows": {m._meta.table_name: m.select().count() for m in TABLES},
            "events": sorted((t, s, n, int(v or 0)) for t, s, n, v in by_source),
            "secrets": sorted(bytes(k.secret).hex() for k in SigningKey.select()),
            "settings": sorted((s.tenant_id, s.name, s.value) for s in TenantSetting.select()),
            "dedup_keys": sorted(e.dedup_key or "" for e in Event.select()),
        }


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def move(source_app, target_url: str, path: Path):
    """Export the source app's database to ``path`` and import it into ``target_url``."""
    run(source_app, "export", "--out", str(path))
    target = create_app({"DATABASE_URL": target_url, "LOG_FORMAT": "text"})
    with connection():
        support.empty_database()
    return target, json.loads(run(target, "import", "--in", str(path)).stdout)


def check_moved_and_idempotent(before: dict, target, path: Path, imported: dict) -> None:
    assert figures() == before
    assert {t: c["stored"] for t, c in imported.items()} == before["rows"]
    again = json.loads(run(target, "import", "--in", str(path)).stdout)
    assert {t: c["stored"] for t, c in again.items()} == dict.fromkeys(MOVED, 0)
    assert figures() == before
    with connection():  # new rows get new ids after the imported ones
        newest = Event.select(fn.MAX(Event.id)).scalar()
        row = {"tenant": Tenant.get(Tenant.domain == "b.example").id, "source_type": "pixel",
               "signed": False, "event_name": "later", "occurred_at_ms": 1, "received_at_ms": 2,
               "dedup_key": None}
        assert insert_event(row) == (newest + 1, False)


def test_export_then_import_into_a_new_database_keeps_every_row(app, tmp_path):
    seed()
    before = figures()
    target, imported = move(app, f"sqlite:///{tmp_path / 'target.db'}", tmp_path / "all.jsonl")
    check_moved_and_idempotent(before, target, tmp_path / "all.jsonl", imported)


@pytest.mark.slow
def test_sqlite_to_postgresql_keeps_every_count_and_sum(tmp_path, postgres_url):
    source = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}", "LOG_FORMAT": "text"})
    with connection():
        seed()
    before = figures()
    target, imported = move(source, postgres_url, tmp_path / "all.jsonl")
    check_moved_and_idempotent(before, target, tmp_path / "all.jsonl", imported)


def test_export_of_one_tenant_holds_only_its_rows(app, tmp_path):
    first, second = seed()
    out = tmp_path / "one.jsonl"
    run(app, "export", "--out", str(out), "--tenant", second["tenant_id"])
    lines = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    tenant_ids = {line["row"].get("tenant", line["row"].get("id")) for line in lines}
    assert tenant_ids == {second["tenant_id"]}
    assert sum(line["table"] == "event" for line in lines) == 15


def test_the_export_file_is_owner_only_even_if_it_existed(app, tmp_path):
    seed()
    fresh, existing = tmp_path / "fresh.jsonl", tmp_path / "existing.jsonl"
    existing.write_text("old\n")
    existing.chmod(0o644)
    for path in (fresh, existing):
        run(app, "export", "--out", str(path))
        assert path.stat().st_mode & 0o777 == 0o600
        assert json.loads(path.read_text().splitlines()[0])["format"] == "conversions-export"


def test_an_export_to_standard_output_writes_the_rows_there(app, runner):
    seed()
    result = runner.invoke(args=["export"])
    assert json.loads(result.stdout.splitlines()[0])["format"] == "conversions-export"


def test_an_export_to_a_place_it_cannot_write_is_an_error(app, runner, tmp_path):
    result = runner.invoke(args=["export", "--out", str(tmp_path / "missing" / "x.jsonl")])
    assert result.exit_code != 0
    assert "cannot write" in result.output


def test_export_of_an_unknown_tenant_is_an_error(app, runner):
    result = runner.invoke(args=["export", "--tenant", "nobody"])
    assert result.exit_code != 0
    assert "no tenant nobody" in result.output


def test_help_and_output_warn_that_the_file_holds_secrets(app, runner, tmp_path):
    seed()
    assert "SECRETS" in runner.invoke(args=["export", "--help"]).output
    assert "SECRETS" in runner.invoke(args=["import", "--help"]).output
    result = runner.invoke(args=["export", "--out", str(tmp_path / "x.jsonl")])
    assert "WARNING" in result.stderr


@pytest.mark.parametrize(("content", "message"), [
    pytest.param('{"a": 1}\n', "not an export of this service", id="no-header"),
    pytest.param('{"format": "conversions-export", "version": 1}\nnot json\n',
                 "line 2 is not JSON", id="bad-line"),
    pytest.param('{"format": "conversions-export", "version": 1}\n{"table": "users", "row": {}}\n',
                 "line 2 names no known table", id="unknown-table"),
    pytest.param('{"format": "conversions-export", "version": 1, "schema_version": 999}\n',
                 "newer schema version", id="newer-schema"),
])
def test_a_file_that_is_not_an_export_is_refused(runner, tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    result = runner.invoke(args=["import", "--in", str(path)])
    assert result.exit_code != 0
    assert message in result.output


def test_a_row_whose_id_holds_other_data_here_stops_the_import(app, runner, tmp_path):
    seed()
    path = tmp_path / "all.jsonl"
    run(app, "export", "--out", str(path))
    with connection():
        Event.update(event_name="changed").where(Event.id == 3).execute()
    result = runner.invoke(args=["import", "--in", str(path)])
    assert result.exit_code != 0
    assert "event 3 exists here with other values" in result.output


def test_events_imported_after_aggregation_ran_count_in_the_aggregates(app, tmp_path):
    from conversions.core import clock
    from conversions.rollups import aggregation
    from conversions.store.models import HourlyAggregate

    seed()
    run(app, "export", "--out", str(tmp_path / "all.jsonl"))
    target = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "LOG_FORMAT": "text"})
    with connection():
        aggregation.aggregate(clock.now_ms())  # the new deployment's job ran before the import
    run(target, "import", "--in", str(tmp_path / "all.jsonl"))
    with connection():
        assert aggregation.cursor_ms() > Event.select(fn.MAX(Event.received_at_ms)).scalar()
        aggregated = HourlyAggregate.select(fn.SUM(HourlyAggregate.events),
                                            fn.SUM(HourlyAggregate.value_hundredths)).tuples()
        raw = Event.select(fn.COUNT(Event.id), fn.SUM(Event.value_hundredths)).tuples()
        assert list(aggregated) == list(raw) == [(30, sum(i * 101 for i in range(30)
                                                          if i % 7))]


def test_importing_again_after_changes_here_keeps_them(app, tmp_path):
    first, _ = seed()
    path = tmp_path / "all.jsonl"
    run(app, "export", "--out", str(path))
    with connection():
        accounts.rotate(first["tenant_id"], "webhook", grace_seconds=0)
    settings.put(first["tenant_id"], "rate_limit.pixel", "70 per minute")
    again = json.loads(run(app, "import", "--in", str(path)).stdout)
    assert {t: c["stored"] for t, c in again.items()} == dict.fromkeys(MOVED, 0)
    assert settings.overrides(first["tenant_id"])["rate_limit.pixel"] == "70 per minute"
    with connection():
        assert len(accounts.live_keys(first["tenant_id"], "webhook")[0]) == 1
