"""Tabular and structured text: CSV / TSV as Markdown tables, JSON / JSONL as sections.

Standard library only (csv, json): nothing to install, and the layout choices (records as tables,
nested objects as headed sections) are ours to keep readable for question generation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, decode, markdown_tables

# --------------------------------------------------------------------------- CSV / TSV


def _dialect(text: str, suffix: str):
    if suffix == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def extract_csv(path: Path, data: bytes) -> Parsed:
    """Delimited rows as Markdown tables (first row = header, repeated in every piece); the
    delimiter is sniffed for .csv (comma, semicolon, tab, pipe) and is a tab for .tsv."""
    text = decode(path, data)
    try:
        rows = list(csv.reader(text.splitlines(), _dialect(text, path.suffix.lower())))
    except csv.Error as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not valid delimited text ({exc})") from exc
    drafts = Drafts()
    for table in markdown_tables(rows):
        drafts.add("table", table)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- JSON / JSONL

_SCALARS = (str, int, float, bool, type(None))


def _scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if value is None or isinstance(value, bool) else str(value)


def _is_records(value: object) -> bool:
    """A list of flat objects, which reads best as a table."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, dict) and all(isinstance(x, _SCALARS) for x in v.values()) for v in value
    )


def _records_tables(records: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for r in records for k in r))
    return markdown_tables([columns] + [[_scalar(r.get(c, "")) if c in r else "" for c in columns] for r in records])


def _json_value(drafts: Drafts, value: object, level: int) -> None:
    """Scalars become 'key: value' lines, records become tables, nested objects become headings."""
    if _is_records(value):
        for table in _records_tables(value):
            drafts.add("table", table)
    elif isinstance(value, list):
        scalars = [v for v in value if isinstance(v, _SCALARS)]
        if scalars:
            drafts.add("list", "\n".join("- " + _scalar(v) for v in scalars))
        for number, item in enumerate((v for v in value if not isinstance(v, _SCALARS)), start=1):
            _json_section(drafts, f"item {number}", item, level)
    elif isinstance(value, dict):
        lines = [f"{k}: {_scalar(v)}" for k, v in value.items() if isinstance(v, _SCALARS)]
        drafts.add("paragraph", "\n".join(lines))
        for key, item in value.items():
            if not isinstance(item, _SCALARS):
                _json_section(drafts, str(key), item, level)
    else:
        drafts.add("paragraph", _scalar(value))


def _json_section(drafts: Drafts, title: str, value: object, level: int) -> None:
    depth = min(level, 6)
    drafts.heading("#" * depth + " " + title, title, depth)
    _json_value(drafts, value, level + 1)


def _parse_json(path: Path, text: str, what: str) -> object:
    """json.loads with truncation told apart from other syntax errors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) - 1 or "Unterminated" in exc.msg
        code = "truncated" if cut else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: {what} is {'cut off' if cut else 'not valid JSON'} ({exc})") from exc


def extract_json(path: Path, data: bytes) -> Parsed:
    """A JSON document as nested sections: keys of objects become headings by depth."""
    drafts = Drafts()
    _json_value(drafts, _parse_json(path, decode(path, data), "JSON"), 1)
    return Parsed(drafts.items)


def extract_jsonl(path: Path, data: bytes) -> Parsed:
    """JSON Lines: flat records as one table; otherwise a section per record ('record N')."""
    records = []
    for number, line in enumerate(decode(path, data).split("\n"), start=1):
        if line.strip():
            records.append(_parse_json(path, line, f"line {number}"))
    drafts = Drafts()
    if _is_records(records):
        _json_value(drafts, records, 1)
    else:
        for number, record in enumerate(records, start=1):
            _json_section(drafts, f"record {number}", record, 1)
    return Parsed(drafts.items)
