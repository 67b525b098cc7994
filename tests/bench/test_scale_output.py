"""``make scale``'s output: a bar a phase on standard error, logs in a file apart, and an
ad-hoc size's results outside the tracked tree."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from bench import scale

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("events", scale.TRACKED_SIZES)
def test_the_quoted_sizes_are_kept_in_the_tree(events):
    assert scale.results_path("sqlite", events).parent == scale.RESULTS


@pytest.mark.parametrize("events", [200_000, 1_000])
def test_an_ad_hoc_size_is_written_outside_the_tracked_tree(events):
    path = scale.results_path("sqlite", events)
    assert ROOT not in path.parents
    tracked = subprocess.run(["git", "ls-files", "bench/results"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert not [name for name in tracked if f"-{events}." in name]


def test_a_phase_bar_goes_to_standard_error(capsys):
    with scale.phase("reads", 3, "requests") as bar:
        bar.update(3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "reads" in captured.err
    assert "3/3" in captured.err


def test_logs_go_to_their_file_not_between_the_table(tmp_path, capsys):
    from app import create_app

    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        scale.log_to_file(tmp_path / "scale.log")
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "LOG_FORMAT": "json"})
        logging.getLogger("conversions.bench").warning("a log line")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
            handler.close()
    assert "a log line" in (tmp_path / "scale.log").read_text()
    captured = capsys.readouterr()
    assert "a log line" not in captured.out + captured.err
