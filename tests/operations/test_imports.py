"""Offline CSV import: ``POST /api/conversions/imports`` and ``flask import-csv``."""
from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.ingest import csv_import
from conversions.ingest.schemas import flatten, webhook_event
from conversions.operations.imports import limits, run
from conversions.rollups import tally
from conversions.store.database import connection
from conversions.store.models import Event


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def ms(text: str) -> int:
    return int(at(text) * 1000)


@pytest.fixture
def frozen(app, frozen_clock):
    """Two days after the 2026 spring-forward change in the United States (8 March)."""
    frozen_clock.now = at("2026-03-10 12:00:00")
    return frozen_clock


def upload(client, tenant, body: str | bytes, fmt: str = "generic", **flags):
    query = "&".join(f"{k}={v}" for k, v in {"tenant_id": tenant["tenant_id"], "format": fmt,
                                              **flags}.items())
    data = body.encode() if isinstance(body, str) else body
    return client.post(f"/api/conversions/imports?{query}", data=data,
                       content_type="text/csv")


def stored() -> list[Event]:
    with connection():
        return list(Event.select().order_by(Event.occurred_at_ms, Event.id))


GENERIC = ("event_name,event_ts,value,currency,event_id,click_id\n"
           "purchase,2026-03-09T10:00:00Z,12.50,usd,o-1,gclid-1\n"
           "lead,2026-03-09T11:00:00+01:00,,,,\n")


def test_a_generic_file_is_stored_as_import_events(client, tenant, frozen):
    response = upload(client, tenant, GENERIC)
    assert response.status_code == 200, response.json
    assert response.json == {"rows_read": 2, "inserted": 2, "duplicates": 0, "refused": 0,
                             "dry_run": False, "errors": []}
    purchase, lead = stored()
    assert (purchase.source_type, purchase.provider, purchase.signed) == ("import", "generic",
                                                                         False)
    assert (purchase.event_name, purchase.value, purchase.currency) == ("purchase",
                                                                        Decimal("12.50"), "USD")
    assert purchase.occurred_at_ms == ms("2026-03-09 10:00:00")
    assert purchase.dedup_key == "id:o-1"
    assert json.loads(purchase.properties) == {"click_id": "gclid-1"}
    assert (lead.occurred_at_ms, lead.value_hundredths) == (ms("2026-03-09 10:00:00"), None)
    assert lead.dedup_key.startswith("row:")


def test_a_byte_order_mark_semicolons_and_quoted_fields_are_read(client, tenant, frozen):
    body = ("\ufeffevent_name;event_ts;value;currency;event_id;click_id;note\r\n"
            'purchase;2026-03-09T10:00:00Z;"1000.5";EUR;"o;1";"a ""quoted"" click";"two\r\n'
            'lines"\r\n'
            "purchase;not-a-time;1;EUR;o-2;;\r\n")
    response = upload(client, tenant, body.encode("utf-8"), partial="true")
    assert response.json["inserted"] == 1, response.json
    # The row after a cell with a line break is the spreadsheet's row 3, not line 4.
    assert response.json["errors"][0]["row"] == 3
    (event,) = stored()
    assert (event.value, event.currency, event.dedup_key) == (Decimal("1000.50"), "EUR",
                                                              "id:o;1")
    assert json.loads(event.properties) == {"click_id": 'a "quoted" click'}


GOOGLE = ("Parameters:TimeZone=America/New_York,,,,\n"
          "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency\n"
          "gclid-a,purchase,2026-03-08 01:30:00,10,USD\n"
          "gclid-b,purchase,2026-03-08 03:30:00,20,USD\n"
          "gclid-c,purchase,2026-03-08 03:30:00+0100,30,USD\n"
          "gclid-d,purchase,03/09/2026 1:15:00 PM,40,USD\n")


def test_google_ads_times_follow_the_zone_across_the_daylight_saving_change(client, tenant,
                                                                           frozen):
    response = upload(client, tenant, GOOGLE, "google_ads")
    assert response.json["inserted"] == 4, response.json
    times = {json.loads(e.properties)["click_id"]: e.occurred_at_ms for e in stored()}
    assert times == {
        "gclid-a": ms("2026-03-08 06:30:00"),  # EST, UTC-5
        "gclid-b": ms("2026-03-08 07:30:00"),  # EDT, UTC-4: the clocks went forward at 2:00
        "gclid-c": ms("2026-03-08 02:30:00"),  # its own offset beats the file's zone
        "gclid-d": ms("2026-03-09 17:15:00"),
    }
    assert {e.provider for e in stored()} == {"google_ads"}


def test_a_time_the_clocks_skipped_refuses_its_row_with_the_right_row_number(client, tenant,
                                                                            frozen):
    body = GOOGLE + "gclid-e,purchase,2026-03-08 02:30:00,50,USD\n"
    response = upload(client, tenant, body, "google_ads")
    assert response.status_code == 422
    assert response.json["errors"] == [{
        "row": 7, "column": "Conversion Time", "error": "invalid_event",
        "message": "does not exist in America/New_York (the clocks skipped it)"}]
    assert stored() == []


def test_a_fixed_offset_time_zone_and_a_file_without_one(client, tenant, frozen):
    header = ("Google Click ID,Conversion Name,Conversion Time,Conversion Value,"
              "Conversion Currency\n")
    upload(client, tenant, "Parameters:TimeZone=+0530\n" + header
           + "g1,purchase,2026-03-09 10:00:00,,\n", "google_ads")
    upload(client, tenant, header + "g2,purchase,2026-03-09 10:00:00,,\n", "google_ads")
    assert [e.occurred_at_ms for e in stored()] == [ms("2026-03-09 04:30:00"),
                                                   ms("2026-03-09 10:00:00")]


def test_an_unknown_time_zone_refuses_the_file(client, tenant, frozen):
    response = upload(client, tenant, GOOGLE.replace("America/New_York", "Mars/Olympus"),
                      "google_ads")
    assert (response.status_code, response.json["error"]) == (400, "invalid_csv")
    assert "Mars/Olympus" in response.json["message"]


BAD_ROWS = [
    ("purchase,not-a-time,1,USD,b-1", "event_ts", "must be ISO-8601 or Unix seconds"),
    ("purchase,,1,USD,b-2", "event_ts", "is required"),
    ("purchase,2026-03-10T13:00:00Z,1,USD,b-3", "event_ts",
     "must not be more than 300 seconds ahead"),
    ("purchase,2025-11-01T00:00:00Z,1,USD,b-4", "event_ts",
     "must not be older than 7776000 seconds"),
    ("two words,2026-03-09T10:00:00Z,1,USD,b-5", "event_name",
     "must be 1 to 64 letters, digits or _ . : -"),
    ("purchase,2026-03-09T10:00:00Z,-1,USD,b-6", "value", "must be from 0 to 10000"),
    ("purchase,2026-03-09T10:00:00Z,1.005,USD,b-7", "value",
     "must have at most two decimal places"),
    ("purchase,2026-03-09T10:00:00Z,1,ZZZ,b-8", "currency", "must be an ISO 4217 currency code"),
    ("purchase,2026-03-09T10:00:00Z,1,,b-9", "currency", "is required with a value"),
]


@pytest.mark.parametrize(("column", "cell", "live"), [
    ("event_id", "x" * 129, {"event_id": "x" * 129}),
    ("event_id", "id\x7f", {"event_id": "id\x7f"}),
    ("value", "10000.01", {"event_value": "10000.01", "currency": "USD"}),
])
def test_a_cell_is_judged_by_the_live_events_rules(app, client, tenant, frozen, column, cell,
                                                   live):
    row = {"event_name": "purchase", "event_ts": "2026-03-09T10:00:00Z", "value": "1",
           "currency": "USD", "event_id": "b-1", column: cell}
    response = upload(client, tenant, ",".join(row) + "\n" + ",".join(row.values()) + "\n")
    with app.app_context():
        said = flatten(webhook_event.validate({"event_name": "purchase",
                                               "event_ts": "2026-03-09T10:00:00Z", **live}))
    (error,) = response.json["errors"]
    assert (error["column"], error["message"]) == (column, next(iter(said.values()))[0])


def test_bad_rows_refuse_the_whole_file_and_every_error_is_listed(client, tenant, frozen):
    lines = ["event_name,event_ts,value,currency,event_id",
             "purchase,2026-03-09T10:00:00Z,1,USD,good-1"]
    lines += [row for row, _, _ in BAD_ROWS] * 3  # 27 refused rows, more than twenty
    lines.append("purchase,2026-03-09T10:00:00Z,1,USD,ann@example.com")
    response = upload(client, tenant, "\n".join(lines) + "\n")
    assert response.status_code == 422
    body = response.json
    assert (body["error"], body["rows_read"], body["refused"], body["inserted"]) == (
        "import_refused", 29, 28, 0)
    expected = [{"row": 3 + index, "column": column, "error": "invalid_event", "message": text}
                for index, (_, column, text) in enumerate(BAD_ROWS * 3)]
    expected.append({"row": 30, "column": "event_id", "error": "pii_rejected",
                     "message": "holds personal data (email); hash identifiers before "
                                "importing"})
    assert body["errors"] == expected
    assert stored() == []


def test_partial_stores_the_valid_rows_and_lists_the_refused(client, tenant, frozen):
    body = ("event_name,event_ts,value,currency,event_id\n"
            "purchase,2026-03-09T10:00:00Z,1,USD,p-1\n"
            "purchase,not-a-time,1,USD,p-2\n"
            "purchase,2026-03-09T11:00:00Z,2,USD,p-3\n")
    response = upload(client, tenant, body, partial="true")
    assert response.status_code == 200
    assert (response.json["inserted"], response.json["refused"]) == (2, 1)
    assert response.json["errors"][0]["row"] == 3
    assert [e.dedup_key for e in stored()] == ["id:p-1", "id:p-3"]


def test_a_re_upload_stores_nothing_twice(client, tenant, frozen):
    assert upload(client, tenant, GENERIC).json["inserted"] == 2
    again = upload(client, tenant, GENERIC).json
    assert (again["inserted"], again["duplicates"]) == (0, 2)
    # The same rows in another dialect are the same rows: keyed by content, not by bytes.
    other = GENERIC.replace(",", ";").replace("T11:00:00+01:00", "T10:00:00Z")
    assert upload(client, tenant, "\ufeff" + other).json["duplicates"] == 2
    assert len(stored()) == 2
    assert tally.drain() == {(tenant["tenant_id"], "import", "accepted"): 2,
                             (tenant["tenant_id"], "import", "duplicate"): 4}


def test_a_row_repeated_within_the_file_is_a_duplicate(client, tenant, frozen):
    body = GENERIC + GENERIC.split("\n", 1)[1]
    assert upload(client, tenant, body).json == {
        "rows_read": 4, "inserted": 2, "duplicates": 2, "refused": 0, "dry_run": False,
        "errors": []}


def test_a_dry_run_counts_and_stores_nothing(client, tenant, frozen):
    dry = upload(client, tenant, GENERIC, dry_run="true").json
    assert (dry["inserted"], dry["duplicates"], dry["dry_run"]) == (2, 0, True)
    assert stored() == []
    upload(client, tenant, GENERIC)
    again = upload(client, tenant, GENERIC, dry_run="true").json
    assert (again["inserted"], again["duplicates"]) == (0, 2)
    assert tally.drain() == {(tenant["tenant_id"], "import", "accepted"): 2}  # dry runs: none


def test_a_multipart_file_field_is_read(client, tenant, frozen):
    response = client.post(f"/api/conversions/imports?tenant_id={tenant['tenant_id']}"
                           "&format=generic",
                           data={"file": (io.BytesIO(GENERIC.encode()), "offline.csv")},
                           content_type="multipart/form-data")
    assert response.json["inserted"] == 2, response.json


@pytest.mark.parametrize(("body", "text"), [
    pytest.param(b"event_name,value\nx,1\n", "lacks event_ts, currency, event_id",
                 id="missing columns"),
    pytest.param(b"", "no header row", id="empty"),
    pytest.param("event_name,event_ts,value,currency,event_id\ncaf\xe9,1,,,\n".encode("latin-1"),
                 "not UTF-8", id="latin-1"),
])
def test_an_unreadable_file_is_a_clear_400(client, tenant, frozen, body, text):
    response = upload(client, tenant, body)
    assert (response.status_code, response.json["error"]) == (400, "invalid_csv")
    assert text in response.json["message"]


def test_a_row_of_many_short_fields_across_lines_is_refused_past_the_row_limit(client, tenant,
                                                                              frozen):
    # Each quoted field is one character and a line break: no field is long, the row is.
    row = '"\n",' * (csv_import.MAX_ROW // 4 + 1)
    response = upload(client, tenant, GENERIC + row + "\n")
    assert (response.status_code, response.json["error"]) == (400, "invalid_csv")
    assert response.json["message"] == f"row 4 is longer than {csv_import.MAX_ROW} characters"


def test_the_parameters_are_checked(client, tenant):
    assert upload(client, tenant, GENERIC, fmt="excel").json["error"] == "invalid_parameter"
    assert upload(client, tenant, GENERIC, dry_run="maybe").json["error"] == "invalid_parameter"
    response = client.post("/api/conversions/imports?tenant_id=" + tenant["tenant_id"]
                           + "&format=generic", data=b"{}", content_type="application/json")
    assert response.status_code == 415


def test_an_import_needs_the_admin_token(client, app, tenant):
    app.config["ADMIN_TOKEN"] = "s3cret-token"
    assert upload(client, tenant, GENERIC).status_code == 401


def test_import_csv_command_prints_the_result_and_fails_on_refusal(runner, tenant, frozen,
                                                                  tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(GENERIC)
    result = runner.invoke(args=["import-csv", str(good), "--domain", "shop.example.com",
                                 "--format", "generic", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["dry_run"] is True
    assert stored() == []
    result = runner.invoke(args=["import-csv", str(good), "--domain", "shop.example.com",
                                 "--format", "generic"])
    assert json.loads(result.output)["inserted"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(GENERIC + "purchase,not-a-time,1,USD,x\n")
    refused = runner.invoke(args=["import-csv", str(bad), "--domain", "shop.example.com",
                                  "--format", "generic"])
    assert refused.exit_code == 1
    assert json.loads(refused.output)["errors"][0]["row"] == 4
    partial = runner.invoke(args=["import-csv", str(bad), "--domain", "shop.example.com",
                                  "--format", "generic", "--partial"])
    assert (partial.exit_code, json.loads(partial.output)["duplicates"]) == (0, 2)


def test_import_csv_refuses_a_wide_row_without_reading_it_whole(runner, tenant, tmp_path):
    """A 32 MB line of commas (each an empty field) once cost 10 times its size in memory."""
    wide = tmp_path / "wide.csv"
    with wide.open("w") as out:
        out.write("event_name,event_ts,value,currency,event_id\n")
        for _ in range(32):
            out.write("," * 1024 * 1024)
        out.write("\n")
    tracemalloc.start()
    try:
        result = runner.invoke(args=["import-csv", str(wide), "--domain", "shop.example.com",
                                     "--format", "generic"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1
    assert f"row 2 is longer than {csv_import.MAX_ROW} characters" in result.output
    assert peak < 4 * 1024 * 1024, peak  # not the line: it is refused at the limit
    assert stored() == []


def test_a_file_over_the_64_kib_default_limit_is_imported(client, tenant, frozen):
    body = generic_rows(2_000)  # about 80 KB: the API and the page take up to IMPORT_MAX_BODY
    assert len(body) > 64 * 1024
    response = upload(client, tenant, body)
    assert (response.status_code, response.json["inserted"]) == (200, 2_000)


def test_progress_is_reported_in_bytes_read(app, tenant, frozen):
    data = (GENERIC * 1).encode()
    seen: list[int] = []
    with app.app_context(), connection():
        run(io.BytesIO(data), tenant["tenant_id"], "generic", limits(app),
                       dry_run=True, progress=seen.append)
    assert sum(seen) == len(data)


def generic_rows(count: int) -> bytes:
    lines = ["event_name,event_ts,value,currency,event_id"]
    lines += [f"purchase,2026-03-09T10:{n % 60:02d}:00Z,{n % 1000}.25,USD,m-{n}"
              for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def peak_bytes(app, tenant, count: int) -> int:
    data = generic_rows(count)
    tracemalloc.start()
    try:
        with app.app_context(), connection():
            result = run(io.BytesIO(data), tenant["tenant_id"], "generic", limits(app),
                         dry_run=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert result.inserted == count


def test_memory_stays_flat_as_the_file_grows(app, tenant, frozen):
    # Both files hold more rows than a batch (csv_import.STORE_BATCH, the most in memory).
    small, large = peak_bytes(app, tenant, 4_000), peak_bytes(app, tenant, 16_000)
    # Four times the rows, the same working memory (rows are staged on disk).
    assert large < small * 1.5, (small, large)
