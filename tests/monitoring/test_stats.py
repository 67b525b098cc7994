"""Stats and the optimizer's metrics: exact up to now (aggregates plus the tail), by source
type or event name and period; the metrics also as a CSV download."""
from __future__ import annotations

import pytest

from conversions.core import csv_cells
from tests.support import T0

HOUR = 3600


@pytest.fixture
def seeded(moved, send_goal, add_event, run_job):
    """Events in three hours, some aggregated and some not yet (times in the comments)."""
    assert send_goal(value=12.5, currency="USD").status_code == 202  # 11-24 10:00
    assert send_goal(value=7.25, currency="usd").status_code == 202
    add_event("webhook", T0, occurred=T0 - 22 * HOUR, value_hundredths=1000, currency="USD")
    moved.advance(60)
    assert run_job("aggregate").rows == 4  # two hours, the goals' hour and day of attribution
    add_event("pixel", moved.now, event_name="signup")  # tail, into an aggregated hour
    assert send_goal(value=5, currency="EUR").status_code == 202
    moved.advance(HOUR)
    assert send_goal(value=1, currency="USD").status_code == 202  # tail, 11-24 11:01
    return moved


HOURLY = [
    {"period_start": "2026-11-23T12:00:00Z", "source_type": "webhook", "events": 1,
     "value": {"USD": "10.00"}, "superseded": 0},
    {"period_start": "2026-11-24T10:00:00Z", "source_type": "goal", "events": 3,
     "value": {"EUR": "5.00", "USD": "19.75"}, "superseded": 0},
    {"period_start": "2026-11-24T10:00:00Z", "source_type": "pixel", "events": 1, "value": {},
     "superseded": 0},
    {"period_start": "2026-11-24T11:00:00Z", "source_type": "goal", "events": 1,
     "value": {"USD": "1.00"}, "superseded": 0},
]


def get(client, path: str, **query):
    response = client.get(f"/api/conversions/{path}", query_string=query)
    assert response.status_code == 200, response.json
    return response


def test_stats_are_exact_before_and_after_aggregation(client, tenant, seeded, run_job):
    query = {"tenant_id": tenant["tenant_id"], "from": "2026-11-23T12:30:00Z"}
    expected = {"series": HOURLY, "from": "2026-11-23T12:00:00Z", "to": "2026-11-24T12:00:00Z",
                "granularity": "hour"}
    assert get(client, "stats", **query).json == expected
    seeded.advance(60)
    run_job("aggregate")
    assert get(client, "stats", **query).json == expected


def test_stats_by_day_and_for_one_source(client, tenant, seeded):
    body = get(client, "stats", tenant_id=tenant["tenant_id"], granularity="day").json
    assert (body["from"], body["to"]) == ("2026-10-26T00:00:00Z", "2026-11-25T00:00:00Z")
    assert body["series"] == [
        {"period_start": "2026-11-23T00:00:00Z", "source_type": "webhook", "events": 1,
         "value": {"USD": "10.00"}, "superseded": 0},
        {"period_start": "2026-11-24T00:00:00Z", "source_type": "goal", "events": 4,
         "value": {"EUR": "5.00", "USD": "20.75"}, "superseded": 0},
        {"period_start": "2026-11-24T00:00:00Z", "source_type": "pixel", "events": 1,
         "value": {}, "superseded": 0},
    ]
    goal = get(client, "stats", tenant_id=tenant["tenant_id"], source_type="goal",
               to="2026-11-24T11:00:00Z").json
    assert goal["series"] == [HOURLY[1]]


def test_metrics_by_event_name_as_json(client, tenant, seeded):
    body = get(client, "metrics", tenant_id=tenant["tenant_id"], granularity="day",
               group_by="event_name").json
    assert body == {
        "tenant_id": tenant["tenant_id"], "from": "2026-10-26T00:00:00Z",
        "to": "2026-11-25T00:00:00Z", "granularity": "day", "group_by": "event_name",
        "source_type": None,
        "series": [
            {"period_start": "2026-11-23T00:00:00Z", "event_name": "purchase",
             "conversions": 1, "value": {"USD": "10.00"}},
            {"period_start": "2026-11-24T00:00:00Z", "event_name": "purchase",
             "conversions": 4, "value": {"EUR": "5.00", "USD": "20.75"}},
            {"period_start": "2026-11-24T00:00:00Z", "event_name": "signup",
             "conversions": 1, "value": {}},
        ]}
    ungrouped = get(client, "metrics", tenant_id=tenant["tenant_id"], granularity="hour",
                    source_type="goal").json
    assert [(r["period_start"], r["conversions"]) for r in ungrouped["series"]] == [
        ("2026-11-24T10:00:00Z", 3), ("2026-11-24T11:00:00Z", 1)]


def test_metrics_as_a_csv_download(client, tenant, seeded):
    response = get(client, "metrics", tenant_id=tenant["tenant_id"], granularity="day",
                   group_by="event_name", format="csv")
    assert response.mimetype == "text/csv"
    name = f"conversions-{tenant['tenant_id'][:8]}-day-2026-10-26.csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.get_data(as_text=True) == (
        "period_start,event_name,currency,conversions,value\n"
        "2026-11-23T00:00:00Z,purchase,USD,1,10.00\n"
        "2026-11-24T00:00:00Z,purchase,EUR,1,5.00\n"
        "2026-11-24T00:00:00Z,purchase,USD,3,20.75\n"
        "2026-11-24T00:00:00Z,signup,,1,\n")


def test_metrics_csv_defuses_event_names_a_spreadsheet_would_run(client, tenant, moved,
                                                                send_goal):
    for name in ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "ok"):
        assert send_goal(event_name=name).status_code == 202
    moved.advance(HOUR)
    body = get(client, "metrics", tenant_id=tenant["tenant_id"], group_by="event_name",
               format="csv").get_data(as_text=True)
    cells = {line.split(",", 2)[1] for line in body.splitlines()[1:]}
    assert cells == {"'=cmd|' /C calc'!A0", "'+1+1", "'-2+3", "'@SUM(A1)", "ok"}


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (-1, -1), (2.5, 2.5),
])
def test_a_csv_cell_a_spreadsheet_would_run_gets_an_apostrophe(value, written):
    assert csv_cells.cell(value) == written


@pytest.mark.parametrize(("path", "query", "parameter"), [
    ("stats", {"granularity": "week"}, "granularity"),
    ("stats", {"from": "yesterday"}, "from"),
    ("stats", {"to": "2026-13-01"}, "to"),
    ("stats", {"from": "2026-11-24T12:00:00Z", "to": "2026-11-24T10:00:00Z"}, "from"),
    ("stats", {"from": "2026-09-01T00:00:00Z"}, "from"),
    ("stats", {"source_type": "email"}, "source_type"),
    ("metrics", {"group_by": "source"}, "group_by"),
    ("metrics", {"format": "xml"}, "format"),
    ("metrics", {"tenant_id": ""}, "tenant_id"),
    # Instants whose periods cannot be rendered as dates (were a 500).
    ("stats", {"to": "9999-12-31T23:59:59Z"}, "to"),
    ("metrics", {"to": "0001-01-01"}, "to"),
    ("stats", {"from": "1969-12-31T00:00:00Z"}, "from"),
])
def test_bad_parameters_are_a_400_naming_them(client, tenant, moved, path, query, parameter):
    response = client.get(f"/api/conversions/{path}",
                          query_string={"tenant_id": tenant["tenant_id"], **query})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_parameter"
    assert response.json["parameter"] == parameter
    assert parameter in response.json["message"]
