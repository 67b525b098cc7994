"""Counts of the schemathesis run, reported at the end of the session."""
from __future__ import annotations

from collections import Counter, defaultdict

cases: Counter[str] = Counter()  # operation label -> cases sent
statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)  # operation -> status -> n
