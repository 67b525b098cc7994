"""The repository holds everything its tests, docs and examples use: nothing outside it."""
from __future__ import annotations

import re

from tests.support import texts, tracked_files

# Written so that this file does not match itself.
OUTSIDE = re.compile(r"\.\./shared|shared[/]spec|/work[/]")
ENV_READ = re.compile(r"""os\.(?:environ(?:\.get)?\s*[\[(]|getenv\()\s*["']([A-Z][A-Z0-9_]*)"""
                      r"""|process\.env\.([A-Z][A-Z0-9_]*)""")
# What the tests may read from the environment: services, tools and switches, never a place
# to find test data in.
TEST_ENVIRONMENT = {
    "CI": "fail instead of skipping when a service is missing",
    "TEST_DATABASE_URL": "the PostgreSQL pass's database",
    "TEST_POSTGRES_URL": "the PostgreSQL server to make throwaway databases on",
    "TEST_REDIS_URL": "the Redis server for shared rate limits",
    "CHROMIUM": "the Chromium binary for browser tests",
    "CONVERSIONS_DOCS_SCREENSHOT": "a switch: copy the settings page's screenshot into docs/",
}


def test_no_tracked_file_refers_outside_the_repository():
    found = [f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group()}"
             for name, text in texts(tracked_files()).items()
             for match in OUTSIDE.finditer(text)]
    assert found == []


def test_tests_read_no_environment_variable_but_services_and_tools():
    test_code = [name for name in tracked_files()
                 if name.startswith(("tests/", "clients/"))]
    read = {}
    for name, text in texts(test_code).items():
        for match in ENV_READ.finditer(text):
            read.setdefault(match.group(1) or match.group(2), name)
    unexpected = {variable: name for variable, name in read.items()
                  if variable not in TEST_ENVIRONMENT}
    assert unexpected == {}, "say in TEST_ENVIRONMENT why the tests read these, or do not"
    assert "TEST_DATABASE_URL" in read  # the search finds what it looks for


def test_no_test_imports_a_conftest():
    """Helpers live in ``tests/support.py``, fixtures in conftests that nothing imports."""
    importing = re.compile(r"^\s*(?:from\s+[\w.]*conftest\s+import|import\s+[\w.]*conftest)",
                           re.MULTILINE)
    found = [name for name, text in texts(tracked_files()).items()
             if name.endswith(".py") and importing.search(text)]
    assert found == []
