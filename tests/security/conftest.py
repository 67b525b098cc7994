"""The documented operations, for checks that must hold on every endpoint."""
from __future__ import annotations

import re

from conversions import openapi

TOKEN = "admin-token-for-security-tests"  # noqa: S105  (a test credential)
DOCUMENT = openapi.build()


def operations(*methods: str, admin: bool | None = None) -> list[tuple[str, str]]:
    """Documented ``(path, method)`` pairs; ``admin`` filters on the bearer requirement."""
    out = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            is_admin = {"adminBearer": []} in operation.get("security", [])
            if method in methods and (admin is None or admin == is_admin):
                out.append((path, method))
    return out


def concrete(path: str) -> str:
    """A documented path template with its parameters filled in."""
    return re.sub(r"\{[^}]+\}", "1", path)
