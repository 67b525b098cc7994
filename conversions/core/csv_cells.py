"""CSV that spreadsheets open as data: a text cell they would run as a formula is defused."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

# Excel, LibreOffice and Google Sheets treat a cell starting with one of these as a formula
# (a tab or carriage return first can hide one); OWASP's advice is a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """``value`` as a CSV cell: text a spreadsheet would take for a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """The rows as CSV, one line each, every cell defused."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([cell(value) for value in row]
                                                   for row in rows)
    return out.getvalue()
