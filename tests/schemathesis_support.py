"""Counts of the schemathesis run, reported at the end of the session."""
from __future__ import annotations

from collections import Counter

cases: Counter[str] = Counter()  # operation label -> cases sent
