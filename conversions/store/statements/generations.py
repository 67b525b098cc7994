"""The generation read (``store.generations``): on every signed request."""
from __future__ import annotations

from conversions.store.models import Generation
from conversions.store.statements import Statement, quoted, table

GENERATION = Statement.of(
    lambda d: f"SELECT {quoted('value')} FROM {table(Generation)} "
              f"WHERE {quoted('name')} = {d.param('name')}")
