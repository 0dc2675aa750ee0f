"""The export's ZIP, written to a file one record at a time: each section goes to its JSON and
CSV files on disk, which then go into the archive, so no section is ever held in memory whole.

Files: ``manifest.json`` (what the ZIP holds: the export, its time, the usage window and the
record count of every file), ``account.json`` (profile and wallet), and ``<section>.json``
(a JSON array of the records as the API shows them) with ``<section>.csv`` (the same records
as spreadsheet-safe rows) for every section of ``contents.SECTIONS``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tollgate import spreadsheet, usage
from tollgate.exports.contents import SECTIONS, Row, profile

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Bundle:
    path: Path
    size_bytes: int
    record_counts: dict[str, int]  # by section


def write_bundle(directory: Path, account_id: str, export_id: str, now: datetime) -> Bundle:
    """The account's ZIP as of ``now``, written under ``directory``."""
    path = directory / f"{export_id}.zip"
    counts: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("account.json", _json(profile(account_id)))
        for section in SECTIONS:
            counts[section.name] = _add_section(
                archive, directory, section.name, section.columns, section.rows(account_id, now)
            )
        archive.writestr("manifest.json", _json(_manifest(account_id, export_id, now, counts)))
    return Bundle(path, path.stat().st_size, counts)


def _add_section(
    archive: zipfile.ZipFile,
    directory: Path,
    name: str,
    columns: Sequence[str],
    rows: Iterable[Row],
) -> int:
    json_path, csv_path = directory / f"{name}.json", directory / f"{name}.csv"
    with (
        json_path.open("w", encoding="utf-8") as as_json,
        csv_path.open("w", encoding="utf-8", newline="") as as_csv,
    ):
        as_json.write("[")
        count = spreadsheet.write_csv(as_csv, columns, _json_items(rows, as_json))
        as_json.write("\n]\n" if count else "]\n")
    for written in (json_path, csv_path):
        archive.write(written, written.name)
        written.unlink()
    return count


def _json_items(rows: Iterable[Row], out: TextIO) -> Iterator[dict[str, Any]]:
    """Each record's JSON view into ``out`` as an array item; its CSV row to the caller."""
    for index, (view, row) in enumerate(rows):
        out.write("\n  " if index == 0 else ",\n  ")
        json.dump(view, out, ensure_ascii=False, separators=(",", ":"))
        yield row


def _manifest(
    account_id: str, export_id: str, now: datetime, counts: dict[str, int]
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "export_id": export_id,
        "account_id": account_id,
        "generated_at": int(now.timestamp()),
        "usage_from": int((now - usage.HOT_WINDOW).timestamp()),
        "files": {
            "account.json": 1,
            **{f"{name}.{kind}": n for name, n in counts.items() for kind in ("json", "csv")},
        },
    }


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
