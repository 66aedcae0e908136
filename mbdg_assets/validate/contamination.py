"""Contamination and verbatim copying.

Contamination: a training record that shares a long word n-gram with a user's evaluation set
leaks the test into training. 13-grams are the GPT-3 paper's contamination unit (Brown et al.
2020, appendix C); MinHash Jaccard over word shingles catches the same item lightly reworded.

Verbatim copying: an answer that repeats a long stretch of its source passage teaches copying,
not answering; it is flagged (not rejected) so a reviewer can see it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbdg_assets.validate.dedup import exact_jaccard, lsh_candidate_pairs, minhash_signatures, shingles
from mbdg_assets.shared.text import words

NGRAM = 13
CONTAMINATION_JACCARD = 0.5   # half the shingles shared with an eval item: the item is in the record
VERBATIM_WORDS = 40           # an answer repeating 40+ consecutive source words (about two long sentences)


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class EvalIndex:
    """A user's evaluation items, indexed once per run."""
    texts: list[str]
    grams: dict[tuple[str, ...], int]
    sets: list[set[str]]
    signatures: np.ndarray

    @classmethod
    def build(cls, texts: list[str]) -> EvalIndex:
        grams: dict[tuple[str, ...], int] = {}
        for i, text in enumerate(texts):
            for gram in ngrams(text):
                grams.setdefault(gram, i)
        sets = [shingles(t) for t in texts]
        return cls(texts, grams, sets, minhash_signatures(sets))


def contamination(texts: list[str], index: EvalIndex | None, threshold: float = CONTAMINATION_JACCARD) -> list[str | None]:
    """For each record text, a reason naming the eval item it overlaps, or None."""
    if index is None or not index.texts:
        return [None] * len(texts)
    out: list[str | None] = [None] * len(texts)
    for i, text in enumerate(texts):
        hit = next((index.grams[g] for g in ngrams(text) if g in index.grams), None)
        if hit is not None:
            out[i] = f"contamination: shares a {NGRAM}-word sequence with evaluation item {hit}"
    sets = [shingles(t) for t in texts]
    combined = np.concatenate([index.signatures, minhash_signatures(sets)])
    pairs = lsh_candidate_pairs(combined, bands=32)  # 32 bands x 4 rows: candidates from J ~ 0.4
    offset = len(index.texts)
    pairs = pairs[(pairs[:, 0] < offset) & (pairs[:, 1] >= offset)]
    if len(pairs):
        sim = exact_jaccard(index.sets + sets, pairs)
        for (a, b), s in zip(pairs.tolist(), sim.tolist()):
            if s >= threshold and out[b - offset] is None:
                out[b - offset] = f"contamination: {s:.0%} shingle overlap with evaluation item {a}"
    return out


def longest_verbatim_run(answer: str, source: str) -> int:
    """Length in words of the longest run of consecutive answer words found consecutively in the source."""
    a, s = words(answer), words(source)
    if not a or not s:
        return 0
    positions: dict[str, list[int]] = {}
    for j, w in enumerate(s):
        positions.setdefault(w, []).append(j)
    best, prev = 0, {}
    for w in a:
        cur = {j: prev.get(j - 1, 0) + 1 for j in positions.get(w, [])}
        if cur:
            best = max(best, max(cur.values()))
        prev = cur
    return best


def verbatim_reason(answer: str, source: str, limit: int = VERBATIM_WORDS) -> str | None:
    run = longest_verbatim_run(answer, source)
    return f"verbatim: copies {run} consecutive words of the source passage" if run >= limit else None
