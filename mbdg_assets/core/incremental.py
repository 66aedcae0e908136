"""What lets a re-run skip work: a document whose bytes are unchanged is not parsed again, and
one whose chunks are unchanged is not embedded or enriched again.

The check lives in the assets (not in the runner) so it holds however a partition is launched:
`mbdg run`, the docs-folder sensor, or a click in the Dagster UI.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb


def file_sha256(path: Path, block: int = 1 << 20) -> str | None:
    """sha256 of a file's bytes (the document id), or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(block):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def unchanged_document(con: duckdb.DuckDBPyConnection, path: str, file: Path, max_bytes: int) -> dict | None:
    """The stored documents row when the file on disk still has the stored doc_id, else None."""
    try:
        if file.stat().st_size > max_bytes:
            return None
    except OSError:
        return None
    row = con.execute("SELECT doc_id, format, title, pages, chars FROM documents WHERE path = ?", [path]).fetchone()
    if row is None or file_sha256(file) != row[0]:
        return None
    return dict(zip(("doc_id", "format", "title", "pages", "characters"), row))


def chunks_current(con: duckdb.DuckDBPyConnection, path: str, chunk_ids: list[str], vector_rows: int) -> bool:
    """True when the stored chunks are exactly these ids, enriched, with one vector each."""
    rows = con.execute(
        "SELECT chunk_id, doc_type IS NOT NULL FROM chunks WHERE path = ? ORDER BY position", [path]
    ).fetchall()
    return bool(rows) and [r[0] for r in rows] == chunk_ids and all(r[1] for r in rows) and vector_rows == len(rows)


ENRICHMENT_COLUMN_TYPES = {"key_phrases": "VARCHAR[]", "entities": "VARCHAR[]", "entity_types": "VARCHAR[]",
                           "topic_id": "INTEGER", "topic_label": "VARCHAR", "doc_type": "VARCHAR"}


def ensure_enrichment_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the enrichment columns to a chunks table made before them. Done here, by the one
    writer of those columns, rather than as ALTERs in schema.sql, which runs at every connection
    (measured: the six ALTERs made each connection about half again as slow)."""
    present = {column[0] for column in con.execute("SELECT * FROM chunks LIMIT 0").description}  # 100x cheaper than information_schema
    for column, kind in ENRICHMENT_COLUMN_TYPES.items():
        if column not in present:
            con.execute(f"ALTER TABLE chunks ADD COLUMN {column} {kind}")
