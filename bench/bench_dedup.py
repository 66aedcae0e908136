"""Dedup benchmark: 100k synthetic records with planted exact and near duplicates.

Prints precision / recall of the exact + near (MinHash LSH) stages against the planted pairs, and
the seconds taken; then the semantic stage's matrix-product time on random normalised vectors.

    .venv/bin/python bench/bench_dedup.py [--n 100000]

Records are 50-100 words drawn from a Zipf-like vocabulary of 20k words, each built from one of
2,000 shared templates (the first 15 words) so that unrelated records overlap like real
same-domain data. A planted near duplicate is a copy with one word substituted, inserted or
deleted (per 60 words) and its case / punctuation changed; an exact duplicate differs only in
case, spacing and punctuation. Goal (issue 5): recall >= 0.95 at precision >= 0.95, < 60 s.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mbdg_assets.core.dedup import cosine_neighbours, find_duplicates  # noqa: E402


def _vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def _edit(tokens: list[str], vocab: list[str], rng: random.Random) -> list[str]:
    out = list(tokens)
    for _ in range(max(1, len(out) // 60)):
        pos, op = rng.randrange(15, len(out)), rng.choice("sid")
        if op == "s":
            out[pos] = rng.choice(vocab)
        elif op == "i":
            out.insert(pos, rng.choice(vocab))
        else:
            del out[pos]
    return out


def _surface(tokens: list[str], rng: random.Random) -> str:
    text = " ".join(tokens)
    return (text.upper() if rng.random() < 0.5 else text.capitalize()) + rng.choice([".", "!", " ?", ""])


def build(n: int, seed: int = 0, near_share: float = 0.05, exact_share: float = 0.02):
    """(texts, planted) with planted = {index of copy: index of original}; copies come after originals."""
    rng = random.Random(seed)
    vocab = _vocabulary(20_000, rng)
    cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(vocab))))  # Zipf-like, computed once
    templates = [rng.choices(vocab, cum_weights=cum, k=15) for _ in range(2000)]
    n_near, n_exact = int(n * near_share), int(n * exact_share)
    base = [rng.choice(templates) + rng.choices(vocab, cum_weights=cum, k=rng.randint(35, 85)) for _ in range(n - n_near - n_exact)]
    texts = [" ".join(t) for t in base]
    planted = {}
    for kind, count in (("near", n_near), ("exact", n_exact)):
        for _ in range(count):
            original = rng.randrange(len(base))
            tokens = _edit(base[original], vocab, rng) if kind == "near" else base[original]
            planted[len(texts)] = original
            texts.append(_surface(tokens, rng))
    return texts, planted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    texts, planted = build(args.n)
    keys = [str(i) for i in range(len(texts))]
    started = time.perf_counter()
    result = find_duplicates(keys, texts)
    seconds = time.perf_counter() - started
    flagged = {i for i, kind in enumerate(result.kind) if kind}
    # a flagged copy is right when it points at its original, or at another copy of the same original
    root = {i: planted.get(i, i) for i in range(len(texts))}
    correct = {i for i in flagged if root[i] == root[int(result.duplicate_of[i])]}
    precision = len(correct) / max(len(flagged), 1)
    recall = len(correct & set(planted)) / max(len(planted), 1)
    kinds = {k: result.kind.count(k) for k in ("exact", "near")}
    print(f"records: {len(texts)}  planted duplicates: {len(planted)}  flagged: {len(flagged)} {kinds}")
    print(f"exact+near dedup: precision {precision:.4f}  recall {recall:.4f}  time {seconds:.1f} s")

    rng = np.random.default_rng(0)
    n_vec = 10_000
    vectors = rng.standard_normal((n_vec, 384)).astype(np.float32)
    vectors[n_vec // 2 :] = vectors[: n_vec // 2] + 0.1 * rng.standard_normal((n_vec // 2, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    pairs = cosine_neighbours(vectors, 0.9)
    print(f"semantic (cosine >= 0.9, blocked matrix products): {n_vec} x 384 vectors, {len(pairs)} pairs, "
          f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
