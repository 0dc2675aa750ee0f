"""CSV downloads that open cleanly in a spreadsheet: a header row, times a spreadsheet reads
as dates, and no cell that a spreadsheet would run as a formula (CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tollgate.errors import BadRequest

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_format(value: str | None) -> str:
    """The ``format`` query parameter of a listing: json (the default) or csv."""
    if value in (None, "", "json", "csv"):
        return value or "json"
    raise BadRequest("'format' must be json or csv.", param="format")


def text(value: str | None) -> str:
    """Free text, with a leading apostrophe if a spreadsheet would take it for a formula."""
    value = value or ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def time(moment: datetime | None) -> str:
    """UTC to the second as ``YYYY-MM-DD HH:MM:SS``, which spreadsheets read as a date."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows (already made safe) as CSV with a header row; booleans as true/false."""
    out = io.StringIO()
    write_csv(out, columns, rows)
    return out.getvalue()


def write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """``to_csv`` into a file, one row at a time; the number of rows written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
        count += 1
    return count


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value
