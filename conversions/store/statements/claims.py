"""Cross-channel settlement's statements (``store.cross_channel``): a batch's conversions
claimed by one statement, the claims it settled written back, and the reports that lost.

The claim is an upsert that changes nothing of a stored claim: it inserts the new ones and
returns every claim of the batch, new or stored, with no lookup before it. On PostgreSQL
the upsert locks each stored row it meets for the transaction, as ``FOR UPDATE`` would;
SQLite has one writer. On SQLite, one statement per number of rows (made on first use), its
values row by row; on PostgreSQL one statement of arrays, a column each.
"""
from __future__ import annotations

from functools import cache

from conversions.store.models import ConversionClaim, SupersededEvent
from conversions.store.statements import ARRAY_TYPES, Statement, columns, quoted, table

IDENTITY = (ConversionClaim.tenant, ConversionClaim.event_name, ConversionClaim.event_key)
# What settlement changes of a claim: every field but its id and identity.
SETTLED = tuple(field for field in ConversionClaim._meta.sorted_fields
                if field.name not in {"id", *(each.name for each in IDENTITY)})
SETTLED_NAMES = tuple(field.name for field in SETTLED)
FIELDS = (*IDENTITY, *SETTLED)
CLAIMED = tuple(field.name for field in FIELDS)
# What a claim statement returns of each claim, new or stored: its id, then ``CLAIMED``.
RETURNED = ("id", *CLAIMED)


def _claim(rows: str) -> str:
    """Claim the conversions of ``rows`` (a ``VALUES`` list or a ``SELECT``)."""
    winner = quoted(ConversionClaim.winner.column_name)
    return (f"INSERT INTO {table(ConversionClaim)} ({columns(FIELDS)}) {rows} "
            f"ON CONFLICT ({columns(IDENTITY)}) DO UPDATE SET "
            f"{winner} = {table(ConversionClaim)}.{winner} "
            f"RETURNING {quoted('id')}, {columns(FIELDS)}")


@cache
def sqlite_claim_rows(rows: int) -> str:
    """SQLite: ``rows`` conversions, each claimed unless it is already (their identities
    distinct), each row's values in ``CLAIMED`` order; returns ``RETURNED`` of every one's
    claim. A new claim's ``winner`` is the report that made it: that is how a caller tells
    its new claims from the stored ones."""
    values = "(" + ", ".join(["?"] * len(FIELDS)) + ")"
    return _claim(f"VALUES {', '.join([values] * rows)}")


# PostgreSQL: ``sqlite_claim_rows`` of any number of conversions, a parameter for each of
# ``CLAIMED``: its values (an array). One short text: the driver need not split a long one.
POSTGRES_CLAIM = _claim("SELECT * FROM unnest(" + ", ".join(
    f"%s::{ARRAY_TYPES[field.field_type]}" for field in FIELDS) + ")")


# A settled claim written back (run once per claim, ``run_many``).
UPDATE = Statement.of(lambda d: (
    f"UPDATE {table(ConversionClaim)} SET "
    + ", ".join(f"{quoted(field.column_name)} = {d.param(field.name)}" for field in SETTLED)
    + f" WHERE {quoted('id')} = {d.param('id')}"))

_SUPERSEDED = tuple(SupersededEvent._meta.sorted_fields)
# A report that lost to another channel's (run once per report, ``run_many``).
SUPERSEDE = Statement.of(lambda d: (
    f"{'INSERT' if d.postgres else 'INSERT OR IGNORE'} INTO {table(SupersededEvent)} "
    f"({columns(_SUPERSEDED)}) VALUES ({d.params(field.name for field in _SUPERSEDED)})"
    f"{' ON CONFLICT DO NOTHING' if d.postgres else ''}"))
