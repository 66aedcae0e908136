"""LanceDB tables beside the warehouse: chunk vectors (for retrieval and multi-hop pairing later)
and accepted-record vectors (for novelty and cross-run dedup later).

Writes are per document: a re-extracted or deleted document replaces or removes exactly its own
rows, so adding one document never rewrites the others.
"""

from __future__ import annotations

from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

CHUNKS_TABLE = "chunks"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunk_schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string()),
            pa.field("doc_id", pa.string()),
            pa.field("path", pa.string()),
            pa.field("text", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
        ]
    )


class VectorStore:
    """A LanceDB database folder with one table per kind of vector."""

    def __init__(self, uri: str | Path):
        self.uri = str(uri)
        Path(self.uri).mkdir(parents=True, exist_ok=True)
        self.db = lancedb.connect(self.uri)

    def _table(self, name: str, schema: pa.Schema):
        if name in self.db.list_tables().tables:
            return self.db.open_table(name)
        return self.db.create_table(name, schema=schema, exist_ok=True)

    def replace_document_chunks(self, path: str, rows: list[dict], vectors: np.ndarray) -> int:
        """Drop the document's old chunk vectors and add the new ones; returns rows written."""
        return self.replace_chunks_of([path], rows, vectors)

    def replace_chunks_of(self, paths: list[str], rows: list[dict], vectors: np.ndarray) -> int:
        """The same for several documents in one delete and one append (each is a table version)."""
        table = self._table(CHUNKS_TABLE, _chunk_schema(vectors.shape[1] if len(rows) else 384))
        table.delete(f"path IN ({', '.join(_quote(p) for p in paths)})")
        if rows:
            data = [row | {"vector": vector.tolist()} for row, vector in zip(rows, vectors)]
            table.add(data)
            self._ensure_text_index(table)
        return len(rows)

    def _ensure_text_index(self, table, fold_after: int = 2000) -> None:
        """Full-text index on `text` for hybrid search. Built once; rows added later are still
        found (LanceDB searches unindexed rows flat) and are folded into the index in batches,
        so adding one document never rebuilds the index over the whole corpus."""
        indices = [i for i in table.list_indices() if i.index_type == "FTS"]
        if not indices:
            table.create_fts_index("text")
        elif (table.index_stats(indices[0].name).num_unindexed_rows or 0) > fold_after:
            table.optimize()

    def search_text(self, query: str, limit: int = 5) -> list[dict]:
        """Keyword (BM25) search over chunk text."""
        if CHUNKS_TABLE not in self.db.list_tables().tables:
            return []
        return self.db.open_table(CHUNKS_TABLE).search(query, query_type="fts").limit(limit).to_list()

    def hybrid_search(self, query: str, vector: np.ndarray, limit: int = 5) -> list[dict]:
        """Vector and keyword results fused by reciprocal rank (LanceDB's default reranker)."""
        if CHUNKS_TABLE not in self.db.list_tables().tables:
            return []
        table = self.db.open_table(CHUNKS_TABLE)
        return table.search(query_type="hybrid").vector(vector.tolist()).text(query).limit(limit).to_list()

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

    def nearest_chunks(self, vector: np.ndarray, limit: int = 5) -> list[dict]:
        table = self.db.open_table(CHUNKS_TABLE)
        return table.search(vector.tolist()).limit(limit).to_list()
