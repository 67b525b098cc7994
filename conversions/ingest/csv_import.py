"""Offline conversions from CSV (``generic`` or Google Ads' upload template), read as a stream.

Each row is judged by the live events' schema (``ingest.schemas.ImportedRow``) and staged in a
scratch SQLite file, so memory stays flat however long the file; the import itself
(``operations/imports.py``) writes the store once every row has been read. The formats and
reading rules: docs/postbacks.md ("Offline CSV import").
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import IO, Any

from marshmallow import ValidationError

from conversions.core import canonical, money, rules, sources, zoned_times
from conversions.ingest.schemas import ImportedRow, flatten

SOURCE = sources.IMPORT.name
# A row is a handful of short cells: one (and so each of its fields) longer than this refuses
# the file before it is read whole, however wide (a line of a million commas included).
MAX_ROW = 64 * 1024
csv.field_size_limit(MAX_ROW)
# Rows written to the scratch file at a time, and to the store in one transaction: a commit
# costs a flush to disk, and 2000 rows hold the store's write lock for well under a second.
STAGE_BATCH = 500
STORE_BATCH = 2000


class CsvError(ValueError):
    """The file as a whole cannot be read (no header, not UTF-8, a bad Parameters row)."""


@dataclass(frozen=True)
class Format:
    """A file layout: the header naming each field, which headers must be there."""

    name: str
    headers: dict[str, str]  # field -> header, as the template spells it
    required: tuple[str, ...]
    strict_times: bool  # generic: ISO-8601 or Unix seconds only


FORMATS = {f.name: f for f in (
    Format("generic", {name: name for name in
                       ("event_name", "event_ts", "value", "currency", "event_id", "click_id")},
           ("event_name", "event_ts", "value", "currency", "event_id"), True),
    Format("google_ads", {"click_id": "Google Click ID", "event_name": "Conversion Name",
                          "event_ts": "Conversion Time", "value": "Conversion Value",
                          "currency": "Conversion Currency", "event_id": "Order ID"},
           ("click_id", "event_name", "event_ts", "value", "currency"), False),
)}

@dataclass
class Limits:
    """The rules' bounds as of the import: now, how old and how far ahead, how many errors
    are listed."""

    now: float
    max_age: float
    max_future: float
    max_errors: int


@dataclass
class Result:
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    refused: int = 0
    dry_run: bool = False
    errors_truncated: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        body = {"rows_read": self.rows_read, "inserted": self.inserted,
                "duplicates": self.duplicates, "refused": self.refused,
                "dry_run": self.dry_run, "errors": self.errors}
        if self.errors_truncated:
            body["errors_truncated"] = True
        return body


class Counting(io.RawIOBase):
    """A binary stream that reports how many bytes were read (for a progress bar)."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None] | None) -> None:
        self.raw, self.progress = raw, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        if self.progress and data:
            self.progress(len(data))
        return len(data)


@dataclass
class Layout:
    """What the top of a file says: its zone, separator, header and where each field is."""

    zone: tzinfo
    delimiter: str
    header_row: int
    columns: dict[str, int]
    header: list[str]


class Rows:
    """The lines of a file for ``csv.reader``, each row at most ``MAX_ROW`` characters: a
    longer one is refused as soon as it passes the limit, never read whole. A quoted field
    may span lines: ``next_row()`` starts a row's count once the reader has given one."""

    def __init__(self, text: IO[str]) -> None:
        self.text, self.row, self.used = text, 0, 0

    def __iter__(self) -> Rows:
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_ROW + 1 - self.used)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > MAX_ROW:
            raise CsvError(f"row {self.row + 1} is longer than {MAX_ROW} characters")
        return line

    def next_row(self) -> None:
        self.row, self.used = self.row + 1, 0


def layout(lines: Rows, fmt: Format) -> Layout:
    """Read the Parameters row (Google Ads) and the header row."""
    zone: tzinfo = UTC
    line = next(lines, "")
    lines.next_row()
    if fmt.name == "google_ads" and line.lstrip().lower().startswith("parameters:"):
        for part in re.split(r"[;,]", line.strip().split(":", 1)[1]):
            key, _, value = part.partition("=")
            if key.strip().lower() == "timezone" and value.strip():
                try:
                    zone = zoned_times.time_zone(value)
                except ValueError as err:
                    raise CsvError(str(err)) from None
        line = next(lines, "")
        lines.next_row()
    if not line.strip():
        raise CsvError("the file has no header row")
    delimiter = ";" if line.count(";") > line.count(",") else ","
    header = next(csv.reader([line], delimiter=delimiter))
    names = {cell.strip().lower(): index for index, cell in enumerate(header)}
    columns = {name: names[title.lower()] for name, title in fmt.headers.items()
               if title.lower() in names}
    lacking = [fmt.headers[name] for name in fmt.required if name not in columns]
    if lacking:
        raise CsvError(f"the header row lacks {', '.join(lacking)} (format {fmt.name})")
    return Layout(zone, delimiter, lines.row, columns, header)


def row_key(row: dict[str, Any]) -> str:
    """A row's idempotency key: its event id, else a digest of what it says."""
    if row["event_id"]:
        return f"id:{row['event_id']}"
    named = [row["event_name"], row["occurred_at_ms"], row["value_hundredths"],
             row["currency"], row["click_id"]]
    return "row:" + hashlib.sha256(canonical.json_text(named).encode()).hexdigest()


# The order a row's problems are listed in: the file's own order of fields.
_ORDER = ("event_name", "event_ts", "value", "currency", "event_id", "click_id")
_OPTIONAL = ("value", "currency", "event_id", "click_id")


def judge(cells: dict[str, str], schema: ImportedRow
          ) -> tuple[dict[str, Any] | None, list[tuple[str, str, str]]]:
    """A row's fields by the live events' rules (``schema``), or its problems as (field,
    error, message)."""
    problems: list[tuple[str, str, str]] = []
    for name, text in cells.items():
        kind = rules.pii_kind(text)
        if kind:
            problems.append((name, "pii_rejected", f"holds personal data ({kind}); hash "
                             "identifiers before importing"))
    if problems:
        return None, problems
    data = {name: text.strip() for name, text in cells.items()
            if text.strip() or name not in _OPTIONAL}
    data.setdefault("event_name", "")
    data.setdefault("event_ts", "")
    try:
        row = schema.load(data)
    except ValidationError as err:
        found = flatten(err.messages)
        return None, [(name, "invalid_event", found[name][0])
                      for name in sorted(found, key=lambda n: _ORDER.index(n)
                                         if n in _ORDER else len(_ORDER))]
    value = row["event_value"]
    return {"event_name": row["event_name"], "occurred_at_ms": row["event_ts"],
            "value_hundredths": None if value is None else money.hundredths(value),
            "currency": row["currency"], "event_id": row["event_id"],
            "click_id": row["click_id"]}, []


class Staging:
    """Validated rows by key, in a scratch SQLite file (flat memory at any size); a key seen
    before in the file is a duplicate."""

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(str(Path(directory) / "import.db"))
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE row (key TEXT PRIMARY KEY, fields TEXT) WITHOUT ROWID")
        self.pending: list[tuple[str, str]] = []
        self.kept = 0

    def add(self, key: str, fields: dict[str, Any]) -> None:
        self.pending.append((key, json.dumps(fields)))
        if len(self.pending) >= STAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO row VALUES (?, ?)", self.pending)
        self.kept += self.db.total_changes - before
        self.pending.clear()

    def batches(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        cursor = self.db.execute("SELECT key, fields FROM row")
        while True:
            chunk = cursor.fetchmany(STORE_BATCH)
            if not chunk:
                return
            yield [(key, json.loads(text)) for key, text in chunk]

    def close(self) -> None:
        self.db.close()


def stage(source: IO[bytes], fmt: Format, limits: Limits, staging: Staging, result: Result,
          progress: Callable[[int], None] | None = None) -> None:
    """Read every row of ``source`` into ``staging``, counting and listing refusals."""
    lines = Rows(io.TextIOWrapper(io.BufferedReader(Counting(source, progress)),
                                  encoding="utf-8-sig", newline=""))
    try:
        where = layout(lines, fmt)
        titles = {name: where.header[index].strip() for name, index in where.columns.items()}
        schema = ImportedRow(where.zone, fmt.strict_times, limits.now, limits.max_age,
                             limits.max_future)
        row_number = where.header_row
        for record in csv.reader(lines, delimiter=where.delimiter):
            lines.next_row()
            row_number += 1
            if not any(cell.strip() for cell in record):
                continue  # a blank line (spreadsheets end files with some)
            result.rows_read += 1
            cells = {name: record[index] if index < len(record) else ""
                     for name, index in where.columns.items()}
            fields, problems = judge(cells, schema)
            if fields is None:
                result.refused += 1
                for name, error, message in problems:
                    if len(result.errors) >= limits.max_errors:
                        result.errors_truncated = True
                        break
                    entry = {"row": row_number, "column": titles.get(name, name),
                             "error": error, "message": message}
                    result.errors.append(entry)
                continue
            staging.add(row_key(fields), fields)
    except UnicodeDecodeError:
        raise CsvError("the file is not UTF-8 text") from None
    except csv.Error as err:
        raise CsvError(f"the file is not readable CSV: {err}") from None
    staging.flush()
    result.duplicates += result.rows_read - result.refused - staging.kept


def event_row(tenant_id: str, fmt: str, key: str, fields: dict[str, Any],
              received_ms: int) -> dict[str, Any]:
    return {
        "tenant": tenant_id, "source_type": SOURCE, "signed": False, "provider": fmt,
        "event_name": fields["event_name"], "value_hundredths": fields["value_hundredths"],
        "currency": fields["currency"],
        "properties": canonical.json_text({"click_id": fields["click_id"]})
        if fields["click_id"] else None,
        "occurred_at_ms": fields["occurred_at_ms"], "received_at_ms": received_ms,
        "time_estimated": False, "dedup_key": key,
    }

