"""Validation rules shared by every source: PII, names, currency, time, first touch
(money amounts are ``core.money``)."""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import iso4217

from conversions.core import budget

EVENT_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
CURRENCIES = frozenset(c.code for c in iso4217.Currency)
# Longer text is no instant; it is refused before any parsing.
MAX_INSTANT_TEXT = 64
_UNIX_SECONDS = re.compile(r"\d{1,12}(\.\d+)?", re.ASCII)

# Every pattern is searched in untrusted text, so each does work linear in its length:
# ``make lint`` (tools/redos_check.py) refuses a pattern that could backtrack more. The email
# local part only starts where a run of its characters starts (the look-behind) and is
# taken whole (possessive), so a long run before an "@" is scanned once, not once a position.
_PII_PATTERNS = {
    "email": re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++@[A-Za-z0-9\-]++"
                        r"(?:\.[A-Za-z0-9\-]++)*\.[A-Za-z]{2,}"),
    "ssn": re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"),
    # North American with separators, or international with a leading "+".
    "phone": re.compile(
        r"(?<![\w+])(\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?!\d)"
        r"|(?<![\w+])\+\d{1,3}([\s.\-]?\(?\d{1,4}\)?){2,5}(?!\d)"
    ),
}


def _may_hold_pii(text: str) -> bool:
    """Whether ``text`` could hold any kind: every kind needs an "@" (email) or at least 9
    digits (SSN 9, phone 10). Most text has neither, and counting is cheaper than searching;
    text shorter than 9 characters (most keys and values) needs no count."""
    return "@" in text or (len(text) >= 9 and sum(map(str.isdigit, text)) >= 9)


def pii_kind(text: str) -> str | None:
    """The kind of personal data ``text`` contains, if any."""
    if not _may_hold_pii(text):
        return None
    for kind, pattern in _PII_PATTERNS.items():
        match = pattern.search(text)
        if match and (kind != "phone" or sum(ch.isdigit() for ch in match.group()) >= 10):
            return kind
    return None


def _masked(kind: str, match: re.Match[str]) -> str:
    if kind == "phone" and sum(ch.isdigit() for ch in match.group()) < 10:
        return match.group()
    return f"[{kind}]"


def mask_pii(value: Any) -> Any:
    """``value`` with every piece of personal data in a string (or key) replaced by ``[kind]``."""
    if isinstance(value, str):
        if not _may_hold_pii(value):
            return value
        for kind, pattern in _PII_PATTERNS.items():
            value = pattern.sub(lambda m, k=kind: _masked(k, m), value)
        return value
    if isinstance(value, dict):
        return {mask_pii(str(key)): mask_pii(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_pii(item) for item in value]
    return value


def find_pii(value: Any) -> Iterator[tuple[str, str]]:
    """Yield ``(field path, kind)`` for the first few strings in ``value`` that hold PII
    (``budget.MAX_FINDINGS``)."""
    yield from text_findings(value)[0]


LONE_SURROGATE = "must be valid Unicode text (it holds a lone surrogate)"


def lone_surrogates(value: Any) -> dict[str, list[str]]:
    """Where ``value`` holds text with a lone surrogate: JSON can escape one (``"\\ud800"``),
    but it is no Unicode text, so no store could keep it."""
    return text_findings(value)[1]


def text_findings(value: Any) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """``(list(find_pii(value)), lone_surrogates(value))``: one walk over the strings in
    ``value`` and its keys (as text), in order, depth first, until ``budget.MAX_FINDINGS``
    places hold personal data (each kind at most that many places, paths cut to
    ``budget.MAX_PATH``): a refusal names a few, never every one."""
    found = _Findings()
    with suppress(_Enough):
        found.walk(value, None)
    return found.pii, found.broken


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# Where a value sits: (where its container sits, a key or an index) or None for the top. The
# path text is built only for a finding, so deep nesting under a long key costs no copies.
_Where = tuple[Any, Any] | None


class _Enough(Exception):
    """Enough personal data found: the walk stops."""


class _Findings:
    """What one walk found; a step's place is made only for a text that may hold a finding."""

    __slots__ = ("pii", "broken")

    def __init__(self) -> None:
        self.pii: list[tuple[str, str]] = []
        self.broken: dict[str, list[str]] = {}

    def walk(self, value: Any, where: _Where) -> None:
        if isinstance(value, str):
            self.text(value, where, None)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.text(str(key), where, (key, "(key)"))
                if isinstance(item, str):
                    self.text(item, where, (key,))
                elif isinstance(item, (dict, list)):
                    self.walk(item, (where, (key,)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    self.text(item, where, index)
                elif isinstance(item, (dict, list)):
                    self.walk(item, (where, index))

    def text(self, text: str, where: _Where, step: Any) -> None:
        """Check one text at ``step`` of ``where`` (None: at ``where`` itself)."""
        kind = pii_kind(text)
        surrogate = len(self.broken) < budget.MAX_FINDINGS and not text.isascii() \
            and _has_lone_surrogate(text)
        if kind or surrogate:
            place = where if step is None else (where, step)
            if surrogate:
                self.broken[_path(place)] = [LONE_SURROGATE]
            if kind:
                self.pii.append((_path(place), kind))
                if len(self.pii) >= budget.MAX_FINDINGS:
                    raise _Enough


def _path(where: _Where) -> str:
    """``events[2].properties.note``, or ``$`` for the top; cut to ``budget.MAX_PATH``."""
    steps = []
    while where is not None:
        where, step = where
        steps.append(step)
    parts: list[str] = []
    empty = True  # nothing written yet: a name's leading dots are dropped, as no separator
    for step in reversed(steps):
        part = f"[{step}]" if isinstance(step, int) else "".join(map(str, step))
        if not isinstance(step, int):
            part = part.lstrip(".") if empty else "." + part
        parts.append(part)
        empty = empty and not part
    return budget.cut_path("".join(parts)) if not empty else "$"


def currency(code: Any) -> str:
    """An ISO 4217 code in any case, returned upper case."""
    if not isinstance(code, str) or len(code) != 3 or code.upper() not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code")
    return code.upper()


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date-time (``Z`` or offset; naive means UTC) or Unix seconds, in UTC."""
    if len(text) > MAX_INSTANT_TEXT:
        raise ValueError("must be ISO-8601 or Unix seconds")
    text = text.strip()
    if _UNIX_SECONDS.fullmatch(text):
        seconds = float(text)
        if not math.isfinite(seconds):
            raise ValueError("must be ISO-8601 or Unix seconds")
        return datetime.fromtimestamp(seconds, UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be ISO-8601 or Unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def event_time_ms(moment: datetime, now: float, max_age: float, max_future: float) -> int:
    """``moment`` in Unix ms, if it lies in ``[now - max_age, now + max_future]``."""
    seconds = moment.timestamp()
    if seconds > now + max_future:
        raise ValueError(f"must not be more than {int(max_future)} seconds ahead")
    if seconds < now - max_age:
        raise ValueError(f"must not be older than {int(max_age)} seconds")
    return int(seconds * 1000)


def honored_first_touch_ms(text: str | None, now: float, max_age_days: int,
                           max_future: float) -> int | None:
    """When the first touch honored for the lag is (Unix ms), or None when it is not."""
    if not text:
        return None
    seconds = parse_instant(text).timestamp()
    if seconds > now + max_future or seconds < now - max_age_days * 86400:
        return None
    return int(seconds * 1000)
