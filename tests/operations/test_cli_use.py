"""The command line as an operator meets it: every documented command explains itself with
``--help``, the list leads with one-line purposes, and each documented wrong use says which
command or value was meant."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operations.test_imports import GENERIC

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [
    ["tenant", "create"], ["tenant", "rotate-secret"], ["tenant", "list"],
    ["tenant", "postback-token"], ["import-csv"], ["transfer", "export"],
    ["transfer", "import"], ["failures", "replay"], ["jobs", "run"], ["init-db"], ["scheduler"],
]
CSV_IMPORT = "import-csv FILE --domain D --format generic|google_ads"


GROUPS = {"tenant", "transfer", "failures", "jobs"}


def test_every_command_the_docs_name_is_in_the_list_tried():
    named = {tuple(words[:2] if words[0] in GROUPS else words[:1])
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for words in (match.split() for match in re.findall(
                 r"flask --app app ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", path.read_text()))}
    assert named <= {tuple(command) for command in DOCUMENTED}


@pytest.mark.parametrize("command", DOCUMENTED, ids=" ".join)
def test_every_documented_command_explains_itself(runner, command):
    result = runner.invoke(args=[*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert f" {' '.join(command)} " in result.output
    assert len(result.output.splitlines()) > 3


def flask(*args: str, database_url: str) -> str:
    """``flask --app app ARGS`` as an operator runs it; its standard output."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, check=True,
        capture_output=True, text=True, env={**os.environ, "DATABASE_URL": database_url},
    ).stdout


def test_the_list_is_the_service_commands_each_with_a_one_line_purpose(database_url):
    """``flask --help`` as run: Flask's generic commands and Flask-Limiter's group are named
    after the list, not in it, and still answer."""
    listing, after = flask("--help", database_url=database_url).split("Commands:\n", 1)[1] \
        .split("\n\n", 1)
    purposes = dict(line.split(None, 1) for line in listing.splitlines())
    assert set(purposes) == {"tenant", "import-csv", "transfer", "failures", "jobs", "init-db",
                             "scheduler"}
    assert not [name for name, text in purposes.items() if text.endswith("...")], purposes
    assert "limiter, routes, run, shell" in " ".join(after.split())
    assert flask("limiter", "--help", database_url=database_url).startswith("Usage: ")


@pytest.mark.parametrize("args", [
    ["import", "offline.csv"], ["import", "--in", "offline.csv"], ["export", "--out", "x"],
], ids=" ".join)
def test_the_old_transfer_names_say_which_command_was_meant(runner, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert f"transfer {args[0]}" in result.output
    assert CSV_IMPORT in result.output


def test_a_csv_given_to_the_transfer_names_the_csv_import(runner, tmp_path):
    path = tmp_path / "offline.csv"
    path.write_text(GENERIC)
    result = runner.invoke(args=["transfer", "import", "--in", str(path)])
    assert result.exit_code == 1
    assert "line 1 is not JSON" in result.output
    assert CSV_IMPORT in result.output


def test_replay_lists_the_valid_reasons(runner):
    result = runner.invoke(args=["failures", "replay", "--reason", "nope"])
    assert result.exit_code == 2
    assert "'invalid_event'" in result.output
    assert "invalid_event" in runner.invoke(args=["failures", "replay", "--help"]).output


def test_a_tenant_is_named_by_id_or_by_domain(runner, tenant):
    by_domain = runner.invoke(args=["tenant", "rotate-secret", "--domain", tenant["domain"],
                                    "--kind", "pixel"])
    assert by_domain.exit_code == 0, by_domain.output
    assert json.loads(by_domain.output)["tenant_id"] == tenant["tenant_id"]
    for args in ([], [tenant["tenant_id"], "--domain", tenant["domain"]]):
        wrong = runner.invoke(args=["tenant", "rotate-secret", *args, "--kind", "pixel"])
        assert wrong.exit_code == 2
        assert "TENANT_ID or by --domain" in wrong.output
    unknown = runner.invoke(args=["tenant", "rotate-secret", "--domain", "nowhere.example",
                                  "--kind", "pixel"])
    assert (unknown.exit_code, "no tenant with domain nowhere.example" in unknown.output) \
        == (1, True)


def test_an_import_refusal_names_the_flag(runner, tenant, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(GENERIC + "purchase,not-a-time,1,USD,x\n")
    refused = runner.invoke(args=["import-csv", str(bad), "--domain", tenant["domain"],
                                  "--format", "generic"])
    assert refused.exit_code == 1
    message = json.loads(refused.output)["message"]
    assert "pass --partial" in message
    assert "partial=true" not in message


def test_the_docs_use_one_way_to_call_flask():
    """``.venv/bin/flask --app app``: another ``flask`` on the PATH knows no ``tenant``."""
    bare = [f"{path.name}: {line.strip()}"
            for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            for line in path.read_text().splitlines()
            if re.search(r"(?<!\.venv/bin/)flask --app app", line)]
    assert not bare


def test_make_run_says_what_it_installs_before_it_installs():
    """The first ``make run`` takes about a minute: its first lines say what for."""
    planned = subprocess.run(["make", "--dry-run", "--always-make", "run"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
    said = planned.index("Installing the service's packages (requirements.txt")
    assert said < planned.index("pip install")
    assert planned.index("gunicorn -c config/gunicorn.conf.py wsgi:app") > said
