"""The ReDoS check of ``make lint``: each shape it must refuse, and the safe forms beside them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import redos_check

ROOT = Path(__file__).resolve().parents[2]

# The two patterns issue 17 found quadratic, as they were.
OLD_DECIMAL = r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"
OLD_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"


@pytest.mark.parametrize(("pattern", "searched"), [
    pytest.param(OLD_DECIMAL, False, id="old-decimal-overlapping-digit-runs"),
    pytest.param(OLD_EMAIL, True, id="old-email-search-restarts"),
    pytest.param(r"a*a*$", False, id="adjacent-runs"),
    pytest.param(r"v\w*_\w*_\w*$", False, id="runs-through-a-shared-separator"),
    pytest.param(r"\d+\d*+x", False, id="a-possessive-second-run-still-splits"),
    pytest.param(r".*foo.*bar", False, id="unit-both-runs-take"),
    pytest.param(r"<.*?>.*?<", False, id="lazy-runs"),
    pytest.param(r"(?:x\d+)*\d*y", False, id="run-after-a-repeated-group"),
    pytest.param(r"(a+)+$", False, id="nested-runs"),
    pytest.param(r"(a*)*", False, id="nested-optional-runs"),
    pytest.param(r"(\w+\s?)+$", False, id="nested-run-with-optional-separator"),
    pytest.param(r"(a|aa)+c", False, id="alternatives-under-a-repeat"),
    pytest.param(r"[a-z]+@", True, id="searched-leading-run"),
    pytest.param(r"a\w+@", True, id="searched-run-after-a-prefix-it-covers"),
])
def test_superlinear_patterns_are_refused(pattern, searched):
    assert redos_check.findings(pattern, 0, searched)


@pytest.mark.parametrize(("pattern", "flags", "searched"), [
    pytest.param(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII, False,
                 id="decimal-with-delimited-parts"),
    pytest.param(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++@[A-Za-z0-9\-]++"
                 r"(?:\.[A-Za-z0-9\-]++)*\.[A-Za-z]{2,}", 0, True, id="guarded-email"),
    pytest.param(r"\d++\d*x", 0, False, id="possessive-first-run"),
    pytest.param(r"(?>\d+)\d*x", 0, False, id="atomic-first-run"),
    pytest.param(r"([a-z]+\.)*x", 0, False, id="repeat-ending-in-a-delimiter"),
    pytest.param(r"(\.[a-z]+)*x", 0, False, id="repeat-starting-with-a-delimiter"),
    pytest.param(r"(a|bc)+d", 0, False, id="alternatives-starting-apart"),
    pytest.param(r"\d+\s*", 0, False, id="disjoint-runs"),
    pytest.param(r"x\d+y", 0, True, id="searched-run-after-a-distinct-prefix"),
    pytest.param(r"\A[a-z]+@", 0, True, id="anchored-search"),
    pytest.param(r"[^a-z0-9]+", 0, True, id="searched-run-nothing-can-fail-after"),
    pytest.param(r"(?<![\w+])\+\d{1,3}([\s.\-]?\(?\d{1,4}\)?){2,5}(?!\d)", 0, True,
                 id="bounded-nesting"),
])
def test_linear_patterns_pass(pattern, flags, searched):
    assert redos_check.findings(pattern, flags, searched) == []


def test_a_pattern_only_ever_fully_matched_is_not_held_to_search_rules(tmp_path):
    (tmp_path / "anchored.py").write_text(
        "import re\nLEADING = re.compile(r'\\s+x')\n\ndef ok(text):\n"
        "    return LEADING.fullmatch(text)\n")
    (tmp_path / "searched.py").write_text(
        "import re\nLEADING = re.compile(r'\\s+x')\n\ndef found(text):\n"
        "    return LEADING.search(text)\n")
    problems = redos_check.check_paths([tmp_path / "anchored.py"])
    assert problems == []
    assert redos_check.check_paths([tmp_path / "searched.py"])


def test_a_pattern_that_is_not_a_literal_is_reported(tmp_path):
    (tmp_path / "built.py").write_text(
        "import re\nPART = 'a+'\nBUILT = re.compile(PART + 'b')\n")
    (problem,) = redos_check.check_paths([tmp_path])
    assert "built.py:3" in problem
    assert "not a literal" in problem


def test_the_command_fails_on_a_finding(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text(f"import re\nMONEY = re.compile(r'{OLD_DECIMAL}')\n"
                   "MONEY.fullmatch('1')\n")
    assert redos_check.main([str(tmp_path)]) == 1
    assert "bad.py:2" in capsys.readouterr().out
    bad.unlink()
    assert redos_check.main([str(tmp_path)]) == 0


def test_the_service_and_client_code_passes():
    paths = [ROOT / name for name in ("conversions", "middleware", "config", "clients/python",
                                      "app.py", "wsgi.py")]
    assert redos_check.check_paths(paths) == []
