"""What one request may cost, by construction: the shape of the JSON (or query) it may send,
checked before any rule, and the bytes its refusal may answer and store."""
from __future__ import annotations

from typing import Any, NamedTuple

from conversions.core import canonical

# Places one refusal names for personal data or broken text: the scan stops there.
MAX_FINDINGS = 3
# Characters of one field path as named (a longer one loses its middle, marked "...").
MAX_PATH = 120
# Bytes of a refusal's ``fields`` as JSON, answered and stored; more are counted, not named.
MAX_FIELDS_BYTES = 2048
CUT = "..."


class Shape(NamedTuple):
    """The most a JSON value may hold: nesting depth, object keys and strings in all."""

    depth: int
    keys: int
    strings: int


class TooComplex(ValueError):
    """The value is past one of its shape's limits (the message says which)."""


def check_shape(value: Any, shape: Shape) -> None:
    """Raise ``TooComplex`` once ``value`` passes a limit of ``shape``: one walk, no
    recursion, stopping at the first excess, so its cost is bounded by the limits."""
    keys = strings = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            strings += 1
            if strings > shape.strings:
                raise TooComplex(f"more than {shape.strings} strings")
            continue
        if isinstance(item, dict):
            keys += len(item)
            if keys > shape.keys:
                raise TooComplex(f"more than {shape.keys} keys")
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > shape.depth:
            raise TooComplex(f"nested deeper than {shape.depth} levels")
        stack.extend((child, depth + 1) for child in children)


def cut_path(path: str) -> str:
    """``path`` at most ``MAX_PATH`` characters: its start and its end (which tells places
    under one long prefix apart), ``...`` between."""
    if len(path) <= MAX_PATH:
        return path
    head = (MAX_PATH - len(CUT)) // 2
    return path[:head] + CUT + path[len(path) - (MAX_PATH - len(CUT) - head):]


def capped_fields(fields: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The first entries of ``fields`` whose JSON fits ``MAX_FIELDS_BYTES`` (paths cut to
    ``MAX_PATH``), and how many entries were left out."""
    kept: dict[str, Any] = {}
    used = 2  # the braces
    for index, (path, problem) in enumerate(fields.items()):
        name = cut_path(str(path))
        size = len(canonical.json_text({name: problem}).encode("utf-8", "replace"))
        if used + size > MAX_FIELDS_BYTES:
            return kept, len(fields) - index
        kept[name] = problem
        used += size - 1  # a comma instead of the second pair of braces
    return kept, 0


def capped_text(text: str, limit: int) -> tuple[str, bool]:
    """``text`` (storable JSON) when it fits ``limit`` UTF-8 bytes, else
    ``{"truncated": <its start>}`` within ``limit``; and whether it was kept whole."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text, True
    keep = limit
    while True:  # escaping may lengthen the start; each pass cuts it in proportion
        start = encoded[:keep].decode("utf-8", "ignore")
        wrapped = canonical.json_text({"truncated": start})
        size = len(wrapped.encode())
        if size <= limit or keep == 0:
            return wrapped, False
        keep = max(0, keep * limit // size - 16)
