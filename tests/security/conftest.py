"""The documented operations, for checks that must hold on every endpoint."""
from __future__ import annotations

import re

from tests.support import openapi_document

TOKEN = "admin-token-for-security-tests"  # noqa: S105  (a test credential)
DOCUMENT = openapi_document()


def operations(*methods: str, admin: bool | None = None,
               page: bool = False) -> list[tuple[str, str]]:
    """Documented ``(path, method)`` pairs: ``admin`` filters JSON endpoints on the bearer
    requirement; ``page`` picks the HTML pages behind a session instead."""
    out = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", [])
            is_page = {"settingsSession": []} in security
            is_admin = security == [{"adminBearer": []}]
            if method not in methods or is_page != page:
                continue
            if page or admin is None or admin == is_admin:
                out.append((path, method))
    return out


def concrete(path: str) -> str:
    """A documented path template with its parameters filled in."""
    return re.sub(r"\{[^}]+\}", "1", path)
