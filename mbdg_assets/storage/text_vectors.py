"""Validation's embeddings kept in the warehouse, one row per (embedding model, text).

Validation embeds every winner's text and, for the grounding stage, each claim of its answer and
each window of its source: about ten texts per record, 97% of validation's time on the local
model. Kept here, they can be computed per slice of documents while the model server is still
generating later slices (validate/vectors_ahead.py), and the dataset run only looks them up. A
text the table lacks is embedded when asked, so results never depend on what is stored: a vector
is a function of the model and the text, and the key holds both.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import duckdb
import numpy as np
import pyarrow as pa

from mbdg_assets.shared.text import stable_id

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def vector_key(embedder, text: str) -> str:
    """What a stored vector is filed under: the embedding model's identity and the text."""
    return stable_id(getattr(embedder, "identity", ""), text)


def load_vectors(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, np.ndarray]:
    """The stored vectors of `keys` (those found), read as Arrow: one float array cut per row,
    not a Python float per component (3.5 s for 27,000 vectors at 1,000 documents)."""
    if not keys:
        return {}
    table = con.sql("SELECT key, vector FROM text_vectors WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                    params=[keys]).to_arrow_table()
    vectors = table.column("vector").combine_chunks()
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    ends = vectors.offsets.to_numpy() - vectors.offsets[0].as_py()
    return {key: flat[ends[i]:ends[i + 1]] for i, key in enumerate(table.column("key").to_pylist())}


def store_vectors(con: duckdb.DuckDBPyConnection, vectors: dict[str, np.ndarray]) -> None:
    """Add vectors (a key already stored keeps its row: the same model and text)."""
    if not vectors:
        return
    arrays = [np.asarray(v, dtype=np.float32).ravel() for v in vectors.values()]
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int32)
    rows = pa.table({"key": list(vectors), "vector": pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(arrays)))})
    con.register("new_text_vectors", rows)
    try:
        con.execute("INSERT OR IGNORE INTO text_vectors SELECT key, CAST(vector AS FLOAT[]) FROM new_text_vectors")
    finally:
        con.unregister("new_text_vectors")


def keep_only(con: duckdb.DuckDBPyConnection, keys: set[str]) -> int:
    """Drop the vectors of texts the latest validation did not ask for (records that left the
    dataset, answers that changed); returns how many went."""
    before = con.execute("SELECT count(*) FROM text_vectors").fetchone()[0]
    con.execute("DELETE FROM text_vectors WHERE key NOT IN (SELECT unnest(?::VARCHAR[]))", [sorted(keys)])
    return before - con.execute("SELECT count(*) FROM text_vectors").fetchone()[0]


class StoredEmbedder:
    """`embedder` with its vectors looked up in, and added to, `text_vectors` (each distinct
    missing text embedded once). `connect` opens the warehouse for each lookup and each write,
    so a caller that embeds for a long time between them does not hold DuckDB's one writer lock.
    Everything else (identity, describe, dimension) is the wrapped embedder's."""

    def __init__(self, embedder, connect: Connect) -> None:
        self.embedder = embedder
        self.connect = connect
        self.used: set[str] = set()   # keys asked for: what the stored table must keep
        self.hits = 0
        self.embedded = 0

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return self.embedder.embed([])
        keys = [vector_key(self.embedder, text) for text in texts]
        self.used.update(keys)
        with self.connect() as con:
            found = load_vectors(con, list(dict.fromkeys(keys)))  # each distinct key once
        text_of = dict(zip(keys, texts))
        missing = [key for key in text_of if key not in found]
        self.hits += sum(1 for key in keys if key in found)
        if missing:
            new = dict(zip(missing, self.embedder.embed([text_of[key] for key in missing])))
            with self.connect() as con:
                store_vectors(con, new)
            found |= new
            self.embedded += len(missing)
        return np.stack([found[key] for key in keys])
