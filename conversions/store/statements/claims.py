"""Cross-channel settlement's hot statement (``store.cross_channel``): a conversion's first
report claims it, unless a report claimed it already (then nothing is returned)."""
from __future__ import annotations

from conversions.store.models import ConversionClaim
from conversions.store.statements import Statement, columns, quoted, table

FIELDS = tuple(field for field in ConversionClaim._meta.sorted_fields
               if field is not ConversionClaim.id)

CLAIM = Statement.of(
    lambda d: f"{'INSERT' if d.postgres else 'INSERT OR IGNORE'} INTO {table(ConversionClaim)} "
              f"({columns(FIELDS)}) VALUES ({d.params(field.name for field in FIELDS)})"
              f"{' ON CONFLICT DO NOTHING' if d.postgres else ''} RETURNING {quoted('id')}")
