"""The path a route is chosen by: a request's path as the routers behind the middleware may
read it, so that no spelling of a guarded path gets past the guard."""
from __future__ import annotations

import re
from urllib.parse import unquote

# Rounds of percent-decoding: a path encoded twice ("%2569") is decoded to the end too. A
# round runs only while an escape is left, so a hostile path of escapes ("%25%25...") costs
# about one round, as much as the server's own decoding of it.
DECODE_ROUNDS = 3
ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def normal_path(path: str) -> str:
    """``path`` percent-decoded, its empty and ``.`` segments dropped and ``..`` applied: one
    slash between segments, none at the end (but for ``/`` itself).

    Routers differ (werkzeug merges repeated slashes, Django's ``APPEND_SLASH`` and Flask's
    ``strict_slashes`` redirect to a trailing slash, servers decode ``%69`` before routing or
    do not); the normal form is the same for every spelling any of them sends to one view.
    ``path`` is WSGI text (bytes as latin-1, PEP 3333); text beyond latin-1 is taken as UTF-8.
    """
    try:
        path.encode("latin-1")
    except UnicodeEncodeError:  # not WSGI text: a server or test client that decoded it
        path = path.encode("utf-8", "replace").decode("latin-1")
    for _ in range(DECODE_ROUNDS):
        if not ESCAPE.search(path):
            break
        path = unquote(path, encoding="latin-1")  # byte for character: still WSGI text
    segments: list[str] = []
    for segment in path.encode("latin-1").decode("utf-8", "replace").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def may_differ(path: str) -> bool:
    """Whether ``normal_path(path)`` may differ from ``path``: a quick test that spares the
    common request (plain ASCII, no ``%``, no empty or dot segment) the work."""
    return (not path.startswith("/") or path.endswith("/") or "//" in path or "%" in path
            or "/." in path or not path.isascii())
