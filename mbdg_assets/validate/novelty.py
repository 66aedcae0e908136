"""Novelty: how far a record is from the nearest accepted record, and what it adds to coverage.

A record is compared with the records kept before it in this run (visited best-scored first)
and with the records accepted in earlier runs. Distance comes from embedding cosine when vectors
are available (one matrix product for the whole run), else from content-word Jaccard. Coverage
gain asks whether it adds a chunk, a topic or answer terms nobody covered yet; a record that
repeats a covered chunk and topic in covered words adds nothing and scores low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbdg_assets.shared.text import jaccard

DISTINCT_AT = 0.5  # MiniLM cosine (or word Jaccard) at or below which two records count as fully distinct:
                   # unrelated questions about one document score 0.2-0.5 in our runs
NOVELTY_WARN = 0.3


@dataclass(frozen=True)
class Novelty:
    score: float
    nearest: float          # similarity to the nearest earlier/accepted record (0 when none)
    coverage_gain: float    # 1 when it brings a new chunk, topic or mostly new terms
    reasons: list[str]


def nearest_similarities(vectors: np.ndarray, kept_mask_fn, prior_vectors: np.ndarray | None = None) -> np.ndarray:
    """Max cosine of each row to earlier rows (as chosen by kept_mask_fn(i) -> bool array over
    rows < i) and to every prior row. One matrix product; the mask is applied per row."""
    n = len(vectors)
    best = np.zeros(n)
    if prior_vectors is not None and len(prior_vectors):
        best = np.maximum(best, (vectors @ prior_vectors.T).max(axis=1))
    if n > 1:
        sims = vectors @ vectors.T
        for i in range(1, n):
            mask = kept_mask_fn(i)
            if mask.any():
                best[i] = max(best[i], float(sims[i, :i][mask].max()))
    return np.clip(best, 0.0, 1.0)


def nearest_jaccard(words: set[str], kept: list[set[str]]) -> float:
    return max((jaccard(words, other) for other in kept), default=0.0)


def coverage_gain(chunk_id: str, topic: str, terms: set[str], seen_chunks: set[str], seen_topics: set[str],
                  seen_terms: set[str]) -> float:
    """1.0 for a new chunk or topic; otherwise the share of the record's terms not seen before."""
    if chunk_id not in seen_chunks or (topic and topic not in seen_topics):
        return 1.0
    return len(terms - seen_terms) / len(terms) if terms else 0.0


def novelty(nearest: float, gain: float) -> Novelty:
    """Half distance (similarity mapped so <= DISTINCT_AT is fully distinct), half coverage gain."""
    distance = min(1.0, (1.0 - nearest) / (1.0 - DISTINCT_AT))
    score = round(0.5 * distance + 0.5 * gain, 4)
    reasons = []
    if score < NOVELTY_WARN:
        reasons.append(f"novelty: {nearest:.0%} similar to an accepted record and adds {gain:.0%} new coverage")
    return Novelty(score, round(nearest, 4), round(gain, 4), reasons)
