"""clients/js: its own tests, under Node's own test runner (``node --test``)."""
from __future__ import annotations

import re
import subprocess

from tests.support import ROOT, require_node
from tests.vectors import load

JS_CLIENT = ROOT / "clients" / "js"


def test_the_js_client_passes_its_own_tests():
    run = subprocess.run([require_node(), "--test"], cwd=JS_CLIENT, capture_output=True,
                         encoding="utf-8", timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    counts = {name: int(count) for name, count in re.findall(r"^# (\w+) (\d+)$", report, re.M)}
    # Every goal vector, escaped and raw, was among the tests that ran and passed.
    assert counts["pass"] >= 2 * len(load()["goals"]), report[-2000:]
    assert counts["fail"] == 0
