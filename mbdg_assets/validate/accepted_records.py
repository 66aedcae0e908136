"""Accepted records across runs: a LanceDB table `accepted_records` beside the chunk vectors.

Every AUTO_APPROVE record is stored with its text, embedding and MinHash signature, so a later
run deduplicates and measures novelty against everything released before without re-embedding
it. Rows are keyed by record_id (an upsert), so re-validating the same dataset changes nothing.
The table is marked with the embedder that made its vectors (storage/vectors.py); when the run's
embedder is another one, the stored texts are embedded again, once, so earlier records stay
comparable instead of being dropped or compared across two vector spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL
from mbdg_assets.storage.vectors import open_in_space, table_space, vector_schema

ACCEPTED_TABLE = "accepted_records"


@dataclass
class PriorRecords:
    """Earlier accepted records, as the validator reads them."""
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None
    signatures: np.ndarray | None = None

    def without(self, keys: set[str], paths: set[str]) -> PriorRecords:
        """Drop rows the current run re-validates (same record, or a document it re-reads)."""
        keep = [i for i, (k, p) in enumerate(zip(self.keys, self.paths)) if k not in keys and p not in paths]
        pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
        return PriorRecords(pick(self.keys), pick(self.texts), pick(self.paths), pick(self.chunk_ids), pick(self.topics),
                            None if self.vectors is None else self.vectors[keep],
                            None if self.signatures is None else self.signatures[keep])


def _schema(dimension: int, num_perm: int, space: str) -> pa.Schema:
    return vector_schema([
        pa.field("record_id", pa.string()), pa.field("text", pa.string()), pa.field("path", pa.string()),
        pa.field("chunk_id", pa.string()), pa.field("topic", pa.string()),
        pa.field("signature", pa.list_(pa.uint32(), num_perm)),
        pa.field("accepted_at", pa.timestamp("us", tz="UTC")),
    ], dimension, space)


def _db(uri: str | Path):
    Path(uri).mkdir(parents=True, exist_ok=True)
    import lancedb  # lazily, as in storage/vectors.py (seconds at import time otherwise)

    return lancedb.connect(str(uri))


def load_prior(uri: str | Path, embedder=None) -> PriorRecords:
    """Every accepted record; with `embedder`, in its vector space (re-embedded once when the
    table holds another embedder's vectors)."""
    db = _db(uri)
    if ACCEPTED_TABLE not in db.list_tables().tables:
        return PriorRecords()
    table = db.open_table(ACCEPTED_TABLE).to_arrow()
    if table.num_rows == 0:
        return PriorRecords()
    if embedder is not None and table_space(table.schema)[0] != embedder.identity:
        table = _reembedded(db, table, embedder)
    col = lambda name: table.column(name).to_pylist()  # noqa: E731
    return PriorRecords(col("record_id"), col("text"), col("path"), col("chunk_id"), col("topic"),
                        np.asarray(col("vector"), dtype=np.float32), np.asarray(col("signature"), dtype=np.uint32))


def _reembedded(db, table: pa.Table, embedder) -> pa.Table:
    """The accepted records again with `embedder`'s vectors of their texts, stored in its space."""
    vectors = embedder.embed(table.column("text").to_pylist())
    schema = _schema(vectors.shape[1], table.schema.field("signature").type.list_size, embedder.identity)
    fresh = table.drop_columns(["vector"]).append_column("vector", pa.array(list(vectors), schema.field("vector").type))
    fresh = fresh.select(schema.names).cast(schema)
    db.create_table(ACCEPTED_TABLE, fresh, mode="overwrite")
    return db.open_table(ACCEPTED_TABLE).to_arrow()


def add_accepted(uri: str | Path, rows: list[dict], vectors: np.ndarray, signatures: np.ndarray,
                 space: str = DEFAULT_EMBEDDING_MODEL) -> int:
    """Upsert rows {record_id, text, path, chunk_id, topic} with their vector and signature
    (`space`: the identity of the embedder that made the vectors)."""
    if not rows:
        return 0
    table = open_in_space(_db(uri), ACCEPTED_TABLE, _schema(vectors.shape[1], signatures.shape[1], space))
    ids = ", ".join("'" + r["record_id"].replace("'", "''") + "'" for r in rows)
    table.delete(f"record_id IN ({ids})")
    now = datetime.now(timezone.utc)
    table.add([r | {"vector": v.tolist(), "signature": s.tolist(), "accepted_at": now}
               for r, v, s in zip(rows, vectors, signatures)])
    return len(rows)
