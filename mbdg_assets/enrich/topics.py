"""Topic labels per chunk: embedding clusters over the whole document set, grown incrementally.

Why not KMeans / agglomerative over all chunks: re-clustering on every new document would relabel
every old chunk (and every record built on it) and redo work proportional to the corpus, which
breaks "adding one document costs one document's work". Instead a leader clustering ("online
clustering", Hartigan 1975): each new chunk joins the nearest existing topic when the cosine
similarity of its vector to that topic's centroid is at least ``threshold``, else it founds a new
topic labelled by its own best key phrases. Cost: O(chunks x topics) dot products per document,
no model; the result depends on document order (the first document on a theme names it), and
labels are those of the founding chunk rather than a summary of all members.

Re-running an unchanged document keeps its chunks' topics (same chunk ids, same topics), so
the labels are stable. Centroids live in one embedder's vector space: when the run's embedder is
another (defs/enrich.py records it), every centroid is emptied, topics keep their ids, labels and members,
and a topic's centroid is seeded again by the first of its members embedded in the new space; a
topic with no centroid yet is not offered to new chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import numpy as np

DEFAULT_THRESHOLD = 0.45  # all-MiniLM-L6-v2: same-theme passages ~0.5-0.8, unrelated ~0.0-0.3


@dataclass
class Topics:
    """The current topics: ids, labels, L2-normalised centroids and member counts."""

    ids: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    centroids: list[np.ndarray] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    changed: set[int] = field(default_factory=set)

    def index(self, topic_id: int) -> int:
        return self.ids.index(topic_id)


def label_from(phrases: Sequence[str], fallback: str) -> str:
    """Two best key phrases make a label a person can read ('green coffee / roast profiles')."""
    return " / ".join(phrases[:2]) if phrases else (fallback or "misc")


def _join(topics: Topics, position: int, vector: np.ndarray) -> None:
    """Move the centroid toward the new member (running mean, re-normalised)."""
    size = topics.sizes[position]
    mean = topics.centroids[position] * size + vector
    topics.centroids[position] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    topics.sizes[position] = size + 1
    topics.changed.add(topics.ids[position])


def assign(topics: Topics, vectors: np.ndarray, phrases: Sequence[Sequence[str]], fallbacks: Sequence[str],
           previous: Sequence[int | None], threshold: float = DEFAULT_THRESHOLD) -> list[tuple[int, str]]:
    """(topic_id, label) per chunk. ``previous`` holds a chunk's earlier topic (re-run of an
    unchanged chunk) or None; only new chunks move centroids or found topics."""
    result = []
    for vector, chunk_phrases, fallback, before in zip(vectors, phrases, fallbacks, previous):
        if before is not None and before in topics.ids:
            position = topics.index(before)
            if len(topics.centroids[position]) != len(vector):  # emptied by enter_space: seed it again
                topics.centroids[position] = vector / max(float(np.linalg.norm(vector)), 1e-12)
                topics.changed.add(before)
            result.append((before, topics.labels[position]))
            continue
        live = [i for i, centroid in enumerate(topics.centroids) if len(centroid) == len(vector)]
        if live:
            similarities = np.stack([topics.centroids[i] for i in live]) @ vector
            best = live[int(np.argmax(similarities))]
            if similarities[live.index(best)] >= threshold:
                _join(topics, best, vector)
                result.append((topics.ids[best], topics.labels[best]))
                continue
        new_id = max(topics.ids, default=0) + 1
        topics.ids.append(new_id)
        topics.labels.append(label_from(chunk_phrases, fallback))
        topics.centroids.append(vector / max(float(np.linalg.norm(vector)), 1e-12))
        topics.sizes.append(1)
        topics.changed.add(new_id)
        result.append((new_id, topics.labels[-1]))
    return result


def empty_centroids(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every centroid (the embedder changed: see the module docstring); ids, labels and
    sizes stay, and each topic is seeded again by its first member embedded anew."""
    con.execute("UPDATE topics SET centroid = []")


def load_topics(con: duckdb.DuckDBPyConnection) -> Topics:
    rows = con.execute("SELECT topic_id, label, centroid, size FROM topics ORDER BY topic_id").fetchall()
    return Topics([r[0] for r in rows], [r[1] for r in rows], [np.asarray(r[2], dtype=np.float32) for r in rows],
                  [r[3] for r in rows])


def save_topics(con: duckdb.DuckDBPyConnection, topics: Topics) -> None:
    """Write only the topics this document created or moved."""
    now = datetime.now(timezone.utc)
    for topic_id in sorted(topics.changed):
        i = topics.index(topic_id)
        con.execute("INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?, ?)",
                    [topic_id, topics.labels[i], topics.centroids[i].astype(float).tolist(), topics.sizes[i], now])
    topics.changed.clear()


def previous_topics(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, int]:
    """{chunk_id: topic_id} of a document's current chunks, so a re-run keeps them."""
    rows = con.execute("SELECT chunk_id, topic_id FROM chunks WHERE path = ? AND topic_id IS NOT NULL", [path]).fetchall()
    return dict(rows)


def release_chunks(con: duckdb.DuckDBPyConnection, path: str, keep: Sequence[str] = ()) -> dict[int, int]:
    """Take a document's stored chunks (all but ``keep``) out of their topics before the rows
    go: sizes drop by the number of chunks leaving, and a topic left with no member is deleted.
    Centroids stay as they were (the member vectors live in LanceDB, not here); a topic's label
    is its founder's, so it can name a theme whose founding chunk has gone. {topic_id: released}."""
    released = dict(con.execute(
        "SELECT topic_id, count(*) FROM chunks WHERE path = ? AND topic_id IS NOT NULL "
        "AND chunk_id NOT IN (SELECT unnest(?::VARCHAR[])) GROUP BY topic_id", [path, list(keep)]).fetchall())
    for topic_id, count in released.items():
        con.execute("UPDATE topics SET size = size - ? WHERE topic_id = ?", [count, topic_id])
    if released:
        con.execute("DELETE FROM topics WHERE size <= 0")
    return released
