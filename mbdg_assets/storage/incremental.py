"""What lets a re-run skip work: a document whose bytes are unchanged is not parsed again, and
one whose chunks are unchanged is not embedded or enriched again.

"Unchanged" includes the code and settings that made the stored rows: a document extracted by
another ``EXTRACTOR_VERSION`` is parsed again, and chunks made under another ``chunking_key``
(chunker version, token budget, tokenizer) are re-chunked, re-embedded and re-enriched, even
when the file's bytes are the same. Both are kept per path in ``document_versions``.

The check lives in the assets (not in the runner) so it holds however a partition is launched:
`mbdg run`, the docs-folder sensor, or a click in the Dagster UI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from mbdg_assets.extract.extraction import EXTRACTOR_VERSION
from mbdg_assets.shared.files import file_sha256


def _readable_sha256(path: Path) -> str | None:
    """The document id of the file on disk, or None when it cannot be read (then it is parsed
    again, and the extraction records the error)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


VERSIONS_TABLE = """CREATE TABLE IF NOT EXISTS document_versions (
    path               VARCHAR PRIMARY KEY,
    extractor_version  VARCHAR,   -- EXTRACTOR_VERSION that made the documents row
    chunking_key       VARCHAR    -- chunking_key() that made the chunks rows
)"""


def ensure_versions_table(con: duckdb.DuckDBPyConnection) -> None:
    """A table of its own rather than columns of ``documents`` / ``chunks``: inserts elsewhere
    (and warehouses made before it) list those tables' columns by position. A document without a
    row here matches no version, so it is redone once."""
    con.execute(VERSIONS_TABLE)


def _stored_version(con: duckdb.DuckDBPyConnection, path: str, column: str) -> str | None:
    row = con.execute(f"SELECT {column} FROM document_versions WHERE path = ?", [path]).fetchone()
    return row[0] if row else None


def _mark(con: duckdb.DuckDBPyConnection, path: str, column: str, value: str) -> None:
    con.execute(f"INSERT INTO document_versions (path, {column}) VALUES (?, ?) "
                f"ON CONFLICT (path) DO UPDATE SET {column} = excluded.{column}", [path, value])


def extractor_version(parser: str) -> str:
    """What made a documents row: the extractor's code version and the parser choice (auto /
    native / docling); a change of either parses unchanged files again."""
    return f"{EXTRACTOR_VERSION}/parser={parser}"


def unchanged_document(con: duckdb.DuckDBPyConnection, path: str, file: Path, max_bytes: int,
                       extractor_version: str | None = None,
                       digest: Callable[[], str | None] | None = None) -> dict | None:
    """The stored documents row when the file on disk still has the stored doc_id, the row was
    made by this extractor version and its blocks are stored as rows, else None (call
    ensure_versions_table first). (A warehouse from before blocks were rows kept them in a JSON
    column: such a document has no block rows and is extracted again, once.) ``digest``: the
    document's sha256 when it is not ``file``'s (an archive member inside ``file``), asked last."""
    try:
        if file.stat().st_size > max_bytes:
            return None
    except OSError:
        return None
    row = con.execute("SELECT doc_id, format, title, pages, chars FROM documents WHERE path = ? "
                      "AND EXISTS (SELECT 1 FROM blocks b WHERE b.path = documents.path)", [path]).fetchone()
    wanted = extractor_version or EXTRACTOR_VERSION
    if row is None or _stored_version(con, path, "extractor_version") != wanted:
        return None
    if (digest() if digest is not None else _readable_sha256(file)) != row[0]:
        return None
    return dict(zip(("doc_id", "format", "title", "pages", "characters"), row))


def mark_extracted(con: duckdb.DuckDBPyConnection, path: str, extractor_version: str | None = None) -> None:
    """Record which extractor made the stored document row (after store_document)."""
    _mark(con, path, "extractor_version", extractor_version or EXTRACTOR_VERSION)


def chunks_current(con: duckdb.DuckDBPyConnection, path: str, chunk_ids: list[str], vector_rows: int,
                   key: str | None = None) -> bool:
    """True when the stored chunks are exactly these ids, enriched, with one vector each, and
    (when ``key`` is given) were made under that chunking key (call ensure_versions_table first)."""
    rows = con.execute(
        "SELECT chunk_id, doc_type IS NOT NULL FROM chunks WHERE path = ? ORDER BY position", [path]
    ).fetchall()
    return (bool(rows) and [r[0] for r in rows] == chunk_ids and all(r[1] for r in rows)
            and vector_rows == len(rows) and (key is None or _stored_version(con, path, "chunking_key") == key))


def mark_chunked(con: duckdb.DuckDBPyConnection, path: str, key: str) -> None:
    """Record the chunking key of a document's stored chunks (after replace_chunks)."""
    _mark(con, path, "chunking_key", key)


ENRICHMENT_COLUMN_TYPES = {"key_phrases": "VARCHAR[]", "entities": "VARCHAR[]", "entity_types": "VARCHAR[]",
                           "topic_id": "INTEGER", "topic_label": "VARCHAR", "doc_type": "VARCHAR"}


def ensure_enrichment_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the enrichment columns to a chunks table made before them. Done here, by the one
    writer of those columns, rather than as ALTERs in schema.sql, which runs at every connection
    (measured: the six ALTERs made each connection about half again as slow)."""
    ensure_columns(con, "chunks", ENRICHMENT_COLUMN_TYPES)


def ensure_columns(con: duckdb.DuckDBPyConnection, table: str, types: dict[str, str]) -> None:
    """Add columns a table made by an older mbdg lacks (CREATE TABLE IF NOT EXISTS keeps old tables)."""
    present = {column[0] for column in con.execute(f"SELECT * FROM {table} LIMIT 0").description}  # 100x cheaper than information_schema
    for column, kind in types.items():
        if column not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
