"""gunicorn's access log with postback tokens masked: the token is the URL's secret."""
from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# /api/conversions/postback/<provider>/<token>: everything after the provider is the token.
_TOKEN = re.compile(r"(/api/conversions/postback/[^/?\s]+/)[^?\s]+")


def mask(text: str) -> str:
    return _TOKEN.sub(r"\1[token]", text)


class MaskedAccessLogger(Logger):
    """gunicorn's logger, whose request line and path atoms never hold a postback token."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):
            if isinstance(atoms.get(name), str):
                atoms[name] = mask(atoms[name])
        return atoms
