"""The store unavailable: the app still starts (a respawned worker must boot, or gunicorn
stops the whole server) and answers 503 with Retry-After, then recovers."""
from __future__ import annotations

import sqlite3

import pytest

from app import create_app
from conversions.store.database import database


@pytest.fixture
def locked_store(tmp_path):
    """A SQLite file another connection holds an exclusive lock on; released on exit."""
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield path, holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()
    database.close_all()


def test_the_app_starts_while_the_store_is_locked_and_answers_503(locked_store):
    path, holder = locked_store
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}",
                      "SQLITE_BUSY_TIMEOUT_MS": 20, "KEY_CACHE_SECONDS": 0,
                      "LOG_FORMAT": "text", "SCHEDULER_ENABLED": False})
    client = app.test_client()
    for url in ("/api/v1/track/pixel/goal?domain=shop.example.com",
                "/api/conversions/webhook?buyer_id=b1",
                "/api/conversions/postback/generic/pb_unknown?event_name=lead"):
        response = client.post(url, data=b"{}", headers={"Content-Type": "application/json",
                                                           "X-LP-Goal-Signature": "00"})
        assert response.status_code == 503, response.data
        assert response.get_json()["error"] == "store_unavailable"
        assert response.headers["Retry-After"]

    holder.execute("COMMIT")
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    response = client.post("/api/v1/track/pixel/goal?domain=shop.example.com", data=b"{}",
                           headers={"X-LP-Goal-Signature": "00"})
    assert response.status_code == 404  # the store answers again: no such tenant
