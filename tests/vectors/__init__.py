"""Known-answer vectors for signing (``signing.json``) and the script that writes them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("signing.json")


def load() -> dict[str, Any]:
    """The vectors: ``goals``, ``webhooks`` and ``pixel_urls``, and the ``sent_at`` moment."""
    return json.loads(PATH.read_text(encoding="utf-8"))
