"""The session-signing key: configured, or made once in the instance and shared."""
from __future__ import annotations

import logging
import os
import stat
from concurrent.futures import ProcessPoolExecutor

import pytest

from app import create_app
from conversions.web import secret_key


def make(database_url: str, **config):
    return create_app({"DATABASE_URL": database_url, "LOG_FORMAT": "text", **config})


def test_a_key_is_made_once_and_reused(tmp_path, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "instance" / "secret_key"
    first = make(database_url, SECRET_KEY_FILE=str(path))
    key = first.config["SECRET_KEY"]
    assert len(key) == 64
    assert path.read_text() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert make(database_url, SECRET_KEY_FILE=str(path)).config["SECRET_KEY"] == key
    assert key not in caplog.text
    assert list(path.parent.iterdir()) == [path]  # no draft left behind


def test_workers_starting_together_agree_on_one_key(tmp_path):
    path = str(tmp_path / "secret_key")
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(secret_key._load_or_make, [path] * 8))
    assert keys == {(tmp_path / "secret_key").read_text()}


def test_a_configured_key_wins_and_no_file_is_made(tmp_path, database_url):
    path = tmp_path / "secret_key"
    app = make(database_url, SECRET_KEY="configured-key", SECRET_KEY_FILE=str(path))
    assert app.config["SECRET_KEY"] == "configured-key"
    assert not path.exists()


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):
        secret_key._load_or_make(str(path))
