"""Flask's ``SECRET_KEY`` (it signs the session cookie): configured, or made once per instance."""
from __future__ import annotations

import contextlib
import os
import secrets

from flask import Flask

KEY_FILE = "secret_key"


def _non_empty(text: str, path: str) -> str:
    if not text.strip():
        raise RuntimeError(f"{path} is empty: delete it to have a key made, or set SECRET_KEY")
    return text.strip()


def _load_or_make(path: str) -> str:
    """The key in ``path``; the first process to get there writes it (0600), the rest read it."""
    with contextlib.suppress(FileNotFoundError), open(path) as existing:
        return _non_empty(existing.read(), path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    draft = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        # Linking is atomic and refuses an existing name: several gunicorn workers starting
        # at once all end up with the one key that won.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(draft)
    with open(path) as chosen:
        return _non_empty(chosen.read(), path)


def init_app(app: Flask) -> None:
    """Use the configured ``SECRET_KEY``, else the instance's key file (made on first start)."""
    if app.config.get("SECRET_KEY"):
        return
    path = app.config.get("SECRET_KEY_FILE") or os.path.join(app.instance_path, KEY_FILE)
    app.config["SECRET_KEY"] = _load_or_make(path)
