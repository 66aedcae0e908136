"""LanceDB tables beside the warehouse: chunk vectors (multi-hop pairing) and, in
validate/accepted_records.py, accepted-record vectors (novelty and cross-run dedup). The vectors
validation looks up by text (records, claims, source windows) are in the warehouse
(storage/text_vectors.py; LanceDB `record_vectors` held the records' alone before).

Chunk text lives once, in the warehouse's `chunks` table: LanceDB holds the chunk's id, document
and vector only. (It once held the text again with a full-text index that no production code
queried; keyword retrieval, when a feature needs it, belongs beside the text in DuckDB.)
Chunk writes are per document: a re-extracted or deleted document replaces or removes exactly its
own rows, so adding one document never rewrites the others.

Each table holds the vectors of one embedding model: its schema's metadata names the embedder
(`identity` of enrich.embeddings), and its vector column has that model's dimension. Writing
vectors of another model (another dimension, or the same dimension from other weights) drops and
re-creates the table: its rows belong to another vector space and would be compared with the new
ones. A table made before the metadata existed counts as all-MiniLM-L6-v2's (the only model then).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL

CHUNKS_TABLE = "chunk_vectors"
SPACE_KEY = b"embedder"
LEGACY_CHUNKS_TABLE = "chunks"  # the earlier table with text and a full-text index: dropped on sight


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def vector_schema(fields: list[pa.Field], dimension: int, space: str) -> pa.Schema:
    """`fields` and a `vector` column of `dimension` floats, marked with the embedder `space`."""
    return pa.schema([*fields, pa.field("vector", pa.list_(pa.float32(), dimension))],
                     metadata={SPACE_KEY: space.encode()})


def table_space(schema: pa.Schema) -> tuple[str, int]:
    """(embedder identity, dimension) of an existing vector table."""
    space = (schema.metadata or {}).get(SPACE_KEY)
    return (space.decode() if space else DEFAULT_EMBEDDING_MODEL), schema.field("vector").type.list_size


def open_in_space(db, name: str, schema: pa.Schema):
    """The table `name`, made with `schema` when missing, and dropped and made again when its
    vectors are another embedder's (see the module docstring)."""
    if name in db.list_tables().tables:
        table = db.open_table(name)
        if table_space(table.schema) == table_space(schema):
            return table
        db.drop_table(name)
    return db.create_table(name, schema=schema, exist_ok=True)


def _chunk_schema(dimension: int, space: str) -> pa.Schema:
    return vector_schema([pa.field("chunk_id", pa.string()), pa.field("doc_id", pa.string()),
                          pa.field("path", pa.string())], dimension, space)


class VectorStore:
    """A LanceDB database folder with one table per kind of vector."""

    def __init__(self, uri: str | Path):
        self.uri = str(uri)
        Path(self.uri).mkdir(parents=True, exist_ok=True)
        import lancedb  # here, not at module level: importing it costs seconds that `mbdg ui` and every run worker paid

        self.db = lancedb.connect(self.uri)
        if LEGACY_CHUNKS_TABLE in self.db.list_tables().tables:
            self.db.drop_table(LEGACY_CHUNKS_TABLE)  # its documents are re-embedded: chunks_current finds no vectors

    def replace_document_chunks(self, path: str, rows: list[dict], vectors: np.ndarray,
                                space: str = DEFAULT_EMBEDDING_MODEL) -> int:
        """Drop the document's old chunk vectors and add the new ones; returns rows written."""
        return self.replace_chunks_of([path], rows, vectors, space)

    def replace_chunks_of(self, paths: list[str], rows: list[dict], vectors: np.ndarray,
                          space: str = DEFAULT_EMBEDDING_MODEL) -> int:
        """The same for several documents in one delete and one append (each is a table version).
        `space`: the embedder's identity; vectors of another one than the table's re-create it."""
        if not rows:
            if CHUNKS_TABLE in self.db.list_tables().tables:
                self.db.open_table(CHUNKS_TABLE).delete(f"path IN ({', '.join(_quote(p) for p in paths)})")
            return 0
        table = open_in_space(self.db, CHUNKS_TABLE, _chunk_schema(vectors.shape[1], space))
        table.delete(f"path IN ({', '.join(_quote(p) for p in paths)})")
        if rows:
            table.add([row | {"vector": vector.tolist()} for row, vector in zip(rows, vectors)])
        return len(rows)

    def delete_document(self, path: str) -> None:
        if CHUNKS_TABLE in self.db.list_tables().tables:
            self.db.open_table(CHUNKS_TABLE).delete(f"path = {_quote(path)}")

    def count_chunks(self, path: str | None = None) -> int:
        if CHUNKS_TABLE not in self.db.list_tables().tables:
            return 0
        table = self.db.open_table(CHUNKS_TABLE)
        return table.count_rows(f"path = {_quote(path)}" if path else None)

    def document_vectors(self, path: str) -> dict[str, np.ndarray]:
        """chunk id -> embedding of one document's chunks (multi-hop planning pairs them)."""
        if CHUNKS_TABLE not in self.db.list_tables().tables:
            return {}
        rows = (self.db.open_table(CHUNKS_TABLE).search().where(f"path = {_quote(path)}")
                .select(["chunk_id", "vector"]).limit(None).to_arrow())
        ids, vectors = rows.column("chunk_id").to_pylist(), rows.column("vector").to_numpy(zero_copy_only=False)
        return {chunk_id: np.asarray(vector, dtype=np.float32) for chunk_id, vector in zip(ids, vectors)}
