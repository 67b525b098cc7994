"""Every repository path and module the docs, docstrings and OpenAPI text name exists, and every
relative link of the Markdown resolves: a move or a rename cannot leave a stale pointer."""
from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.support import ROOT, openapi_document, texts, tracked_files

EXTENSIONS = "py|md|txt|toml|cfg|ini|ya?ml|json|js|mjs|html|css|sh|svg|png|sql|csv|conf"
# A path with at least one folder (``store/writer/lock.py``, ``conversions/rollups/``), or a bare
# Markdown file name (``README.md``); never the tail of a URL or of a longer path.
PATH = re.compile(rf"(?<![\w./:@-])((?:[\w-]+/)+(?:[\w-]+(?:\.[\w-]+)*\.(?:{EXTENSIONS}))?"
                  rf"|[A-Za-z][\w-]*\.md)(?![\w/-]|\.\w)")
PACKAGES = "core|store|tenants|rollups|web|ingest|monitoring|operations|jobs|settings_page"
# A module or attribute of the service in backticks: ``store.writer.group_commit.commit``.
DOTTED = re.compile(rf"`{{1,2}}(?:conversions\.)?((?:{PACKAGES})(?:\.\w+)+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# The repository's folders and the service's packages, which a folder's name starts with.
FOLDERS = {"bench", "clients", "config", "conversions", "docs", "middleware", "tests", "tools",
           *PACKAGES.split("|")}
# Words that stand for a part of a name (``flame-NAME-SCENARIO.svg``), not a file.
PLACEHOLDERS = re.compile(r"\b[A-Z]{4,}(?=-|\.svg)")


def _texts() -> dict[str, str]:
    """Tracked docs and code, this file (whose examples name stale paths) aside."""
    return {name: text for name, text in texts(tracked_files()).items()
            if (name.endswith((".py", ".md", ".html", ".toml")) or name == "Makefile")
            and name != "tests/test_references.py"}


def _folders(files: list[str]) -> set[str]:
    return {f"{parent}/" for name in files for parent in PurePosixPath(name).parents
            if str(parent) != "."}


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


def _generated(path: str) -> bool:
    """Whether git ignores ``path``: an output of the tests or tools (``tests/artifacts/``)."""
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT,
                          timeout=60).returncode == 0


def _missing_path(ref: str, files: set[str], folders: set[str]) -> bool:
    """Whether no file (or folder, for ``ref`` ending in ``/``) is ``ref`` or ends in it: a
    path may be written from the repository, a package (``store/writer/lock.py``) or a folder of
    templates or examples."""
    if PLACEHOLDERS.search(ref):
        return False
    if ref.endswith("/") and ref.split("/")[0] not in FOLDERS:
        return False  # a URL's path (``hooks/in/``), not a folder of this repository
    known = folders if ref.endswith("/") else files
    return not (ref in known or any(path.endswith(f"/{ref}") for path in known)
                or _generated(ref))


def _paths(texts_by_name: dict[str, str]) -> Iterator[tuple[str, int, str]]:
    for name, text in texts_by_name.items():
        for match in PATH.finditer(text):
            yield name, _line(text, match.start()), match.group(1)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _resolves(dotted: str) -> bool:
    parts = f"conversions.{dotted}".split(".")
    for cut in range(len(parts), 1, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_repository_path_named_in_docs_and_code_exists():
    files = set(tracked_files())
    folders = _folders(sorted(files))
    missing = [f"{name}:{line}: {ref}" for name, line, ref in _paths(_texts())
               if _missing_path(ref, files, folders)]
    assert missing == []


def test_every_module_named_in_docs_and_docstrings_exists():
    missing = [f"{name}:{_line(text, match.start())}: {match.group(1)}"
               for name, text in _texts().items() for match in DOTTED.finditer(text)
               if not _resolves(match.group(1))]
    assert missing == []


def test_every_relative_markdown_link_resolves():
    broken = []
    for name, text in _texts().items():
        if not name.endswith(".md"):
            continue
        for match in LINK.finditer(text):
            target = match.group(1).split("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue  # an anchor in the page, or a URL
            if not (ROOT / PurePosixPath(name).parent / target).exists():
                broken.append(f"{name}:{_line(text, match.start())}: {match.group(1)}")
    assert broken == []


def test_openapi_text_names_only_existing_paths():
    files = set(tracked_files())
    folders = _folders(sorted(files))
    named = [ref for text in _strings(openapi_document()) for ref in PATH.findall(text)]
    assert "docs/signing.md" in named  # the search finds what it looks for
    assert [ref for ref in named if _missing_path(ref, files, folders)] == []


@pytest.mark.parametrize(("ref", "missing"), [
    ("store/writer/lock.py", False), ("conversions/rollups/", False), ("docs/signing.md", False),
    ("GONE.md", True), ("ingest/csv_import.py", False), ("conversions/rules.py", True),
    ("bench/results/flame-NAME-SCENARIO.svg", False), ("hooks/in/", False),
])
def test_the_path_check_tells_stale_from_live(ref, missing):
    files = set(tracked_files())
    assert PATH.fullmatch(ref)
    assert _missing_path(ref, files, _folders(sorted(files))) is missing
