"""Files that hold secrets in clear (the SQLite database, exports): owner-only, mode 0600."""
from __future__ import annotations

import contextlib
import os
from typing import IO

PRIVATE = 0o600


def keep_private(path: str) -> None:
    """Create ``path`` empty with mode 0600 if it is missing; take group and other access
    away if it has any (a file made by an older version)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)


def tighten(path: str) -> None:
    """``path``, when it exists, made owner-only."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, PRIVATE)


def open_private(path: str) -> IO[str]:
    """``path`` opened for writing text, truncated, mode 0600 whoever made it before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    os.fchmod(fd, PRIVATE)
    return os.fdopen(fd, "w", encoding="utf-8")
