"""The middleware's docs are its tests: every code block of docs/middleware.md and of the
middleware's README is a file the framework tests serve, or runs here.

A block preceded by ``<!-- include: PATH -->`` must be that file, byte for byte. The other
``python`` blocks of a page run in order as one script, and each ``sh`` block must print
something the script printed (the same signature made with openssl). ``text`` blocks are
commands checked elsewhere (``pip install ./middleware``: tests/middleware/test_distribution.py).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, missing

PAGES = [ROOT / "docs" / "middleware.md", ROOT / "middleware" / "README.md"]
BLOCK = re.compile(r"(?:<!-- include: (\S+) -->\n)?```(\w*)\n(.*?)```", re.S)


def blocks(page: Path) -> list[tuple[str | None, str, str]]:
    """(the file it includes or None, its language, its text) for each code block."""
    return [(found[1], found[2], found[3]) for found in BLOCK.finditer(page.read_text())]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_block_is_of_a_language_the_suite_checks(page):
    assert blocks(page)
    assert {language for _, language, _ in blocks(page)} <= {"python", "sh", "text"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_included_file_is_shown_as_it_is(page):
    for path, _, text in blocks(page):
        if path is not None:
            assert text == (ROOT / path).read_text(), f"{path} differs from its copy in {page}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_other_block_runs(page, tmp_path):
    own = [(language, text) for path, language, text in blocks(page) if path is None]
    script = "".join(text for language, text in own if language == "python")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    shells = [text for language, text in own if language == "sh"]
    if shells and shutil.which("openssl") is None:
        missing("openssl is needed to run the docs' shell examples: apt-get install openssl")
    for text in shells:
        shell = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert shell.returncode == 0, shell.stderr
        assert shell.stdout.strip(), text
        assert shell.stdout.strip() in run.stdout, (shell.stdout, run.stdout)
