"""Markdown tables for the Dagster UI's metadata and the data card: one way to escape a cell and
lay out a table, so a '|' or a newline in a record never breaks the page."""

from __future__ import annotations


def table_cell(value: object, width: int | None = None) -> str:
    """`value` as one table cell: pipes escaped, newlines folded, cut to `width` characters."""
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text[:width] if width is not None else text


def markdown_table(headers: list[str], rows: list[list[object]], width: int | None = None) -> list[str]:
    """The table's lines (header, delimiter, one line per row); cells cut to `width` characters."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(table_cell(v, width) for v in row) + " |" for row in rows]
