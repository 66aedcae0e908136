"""Dedup benchmark: 100k records with planted exact, near and semantic duplicates.

Prints precision / recall of the exact + near (MinHash LSH) stages against the planted pairs, of
the semantic stage against exact all-pairs search, the time of the whole dedup (exact + near +
semantic) of 100k records, and the semantic stage's time against the old all-pairs products.

    .venv/bin/python bench/bench_dedup.py [--n 100000] [--old-n 20000] [--truth-sample 10000]

Texts: 50-100 words drawn from a Zipf-like vocabulary of 20k words, each built from one of 2,000
shared templates (the first 15 words) so that unrelated records overlap like real same-domain
data. A planted near duplicate is a copy with one word substituted, inserted or deleted (per 60
words) and its case / punctuation changed; an exact duplicate differs only in case, spacing and
punctuation. Goal (issue 5): recall >= 0.95 at precision >= 0.95, whole dedup < 60 s.

Vectors: real all-MiniLM-L6-v2 embeddings of ~5k docstring paragraphs of the Python standard
library (embedded once, ~1-2 minutes on 2 cores, then cached in the temp folder), tiled to n by
random rotations that keep the embeddings' common mean direction: inside a tile every cosine is a
real one (stdlib docstrings hold many real near-paraphrases: ~13% of them have a neighbour at
cosine >= 0.9), across tiles cosines look like unrelated real texts (mean 0.09, as within a tile).
On top, 3% of records are noisy copies of another record at cosine 0.90-0.98 (planted semantic
duplicates), and exact / near text copies get their original's vector at cosine 0.99.
Semantic ground truth is exact search for a random sample of records (all pairs of 100k would
take minutes): for each, its most similar earlier record at cosine >= 0.9.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import itertools
import random
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mbdg_assets.validate.dedup import SEMANTIC_COSINE, find_duplicates, semantic_matches  # noqa: E402


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


def stdlib_paragraphs(limit: int = 5000, seed: int = 0) -> list[str]:
    """First paragraphs (40-400 chars) of the standard library's docstrings: real English prose
    about one technical domain, the same on every machine with the same Python."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = set()
    for path in sorted(root.rglob("*.py")):
        if {"test", "tests", "idlelib", "site-packages", "lib2to3"} & set(path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                paragraph = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
                if 40 <= len(paragraph) <= 400:
                    found.add(paragraph)
    texts = sorted(found)
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def real_embeddings() -> np.ndarray:
    texts = stdlib_paragraphs()
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"mbdg-bench-minilm-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    from mbdg_assets.enrich.embeddings import Embedder

    print(f"embedding {len(texts)} stdlib docstring paragraphs once (cached in {cache}) ...", flush=True)
    vectors = Embedder(batch_size=64).embed(texts)
    np.save(cache, vectors)
    return vectors


def _rotation_keeping(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal matrix that maps `direction` (unit) onto itself."""
    q, _ = np.linalg.qr(rng.standard_normal((len(direction), len(direction))))
    w = q @ direction - direction
    if np.linalg.norm(w) > 1e-8:  # a Householder reflection sends q's image of direction back
        w /= np.linalg.norm(w)
        q = q - 2 * np.outer(w, w @ q)
    return q.astype(np.float32)


def _noisy(vectors: np.ndarray, cosine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at about `cosine` from `vectors` (isotropic noise of the matching size)."""
    sigma = np.sqrt(1 / cosine**2 - 1)[:, None]
    noise = rng.standard_normal(vectors.shape).astype(np.float32) / np.sqrt(vectors.shape[1])
    out = vectors + sigma * noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_vectors(n: int, planted: dict[int, int], seed: int = 0, semantic_share: float = 0.03):
    """(vectors, semantic_copies): tiled real embeddings, text copies close to their original's
    vector, and planted semantic copies among the other records."""
    rng = np.random.default_rng(seed)
    real = real_embeddings()
    mean = real.mean(axis=0) / np.linalg.norm(real.mean(axis=0))
    tiles = [real] + [real @ _rotation_keeping(mean, rng).T for _ in range(n // len(real))]
    vectors = np.concatenate(tiles)[:n].copy()
    free = np.setdiff1d(np.arange(1, n), list(planted))
    copies = np.sort(rng.choice(free, int(n * semantic_share), replace=False))
    originals = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier record
    vectors[copies] = _noisy(vectors[originals], rng.uniform(0.90, 0.98, len(copies)), rng)
    text_copies = np.array(list(planted), dtype=np.int64)
    vectors[text_copies] = _noisy(vectors[[planted[c] for c in text_copies]], np.full(len(text_copies), 0.99), rng)
    return vectors.astype(np.float32), copies


def semantic_truth(vectors: np.ndarray, sample: np.ndarray, threshold: float) -> np.ndarray:
    """Exact most similar earlier record (-1: none at or above threshold) for each sampled record."""
    best = np.full(len(sample), -1)
    for start in range(0, len(sample), 500):
        rows = sample[start : start + 500]
        sims = vectors[rows] @ vectors.T
        sims[rows[:, None] <= np.arange(len(vectors))[None, :]] = -2.0
        arg = np.argmax(sims, axis=1)
        hit = sims[np.arange(len(rows)), arg] >= threshold
        best[start : start + 500][hit] = arg[hit]
    return best


def _old_all_pairs(vectors: np.ndarray, threshold: float, block: int = 2048) -> np.ndarray:
    """The all-pairs search the semantic stage used before (kept here as the baseline)."""
    found = []
    for start in range(0, len(vectors), block):
        sims = vectors[start : start + block] @ vectors.T
        sims[np.tril_indices(len(sims), k=start, m=sims.shape[1])] = -1.0
        i, j = np.nonzero(sims >= threshold)
        found.append(np.stack([i + start, j, sims[i, j]], axis=1))
    return np.concatenate(found)


def score(found: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, share of true hits matched to the exact best partner)."""
    hit, real = found >= 0, truth >= 0
    precision = (hit & real).sum() / max(hit.sum(), 1)
    recall = (hit & real).sum() / max(real.sum(), 1)
    same = (found[hit & real] == truth[hit & real]).mean() if (hit & real).any() else 1.0
    return float(precision), float(recall), float(same)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--old-n", type=int, default=20_000, help="records the old all-pairs search is timed on")
    parser.add_argument("--truth-sample", type=int, default=10_000, help="records given exact semantic ground truth")
    args = parser.parse_args()
    texts, planted = build(args.n)
    vectors, semantic_copies = build_vectors(len(texts), planted)
    keys = [str(i) for i in range(len(texts))]
    started = time.perf_counter()
    result = find_duplicates(keys, texts, vectors)
    seconds = time.perf_counter() - started
    flagged = {i for i, kind in enumerate(result.kind) if kind in ("exact", "near")}
    # a flagged copy is right when it points at its original, or at another copy of the same original
    root = {i: planted.get(i, i) for i in range(len(texts))}
    correct = {i for i in flagged if root[i] == root[int(result.duplicate_of[i])]}
    precision = len(correct) / max(len(flagged), 1)
    recall = len(correct & set(planted)) / max(len(planted), 1)
    kinds = {k: result.kind.count(k) for k in ("exact", "near", "semantic")}
    print(f"records: {len(texts)}  planted text duplicates: {len(planted)}  planted semantic copies: "
          f"{len(semantic_copies)}  flagged: {kinds}")
    print(f"exact+near: precision {precision:.4f}  recall {recall:.4f} (against the planted copies)")
    print(f"whole dedup (exact + near + semantic), {len(texts)} records: {seconds:.1f} s")

    started = time.perf_counter()
    matches = semantic_matches(vectors, SEMANTIC_COSINE)
    new_seconds = time.perf_counter() - started
    sample = np.sort(np.random.default_rng(1).choice(len(vectors), min(args.truth_sample, len(vectors)), replace=False))
    truth = semantic_truth(vectors, sample, SEMANTIC_COSINE)
    p, r, same = score(matches.index[sample], truth)
    print(f"semantic stage alone: {new_seconds:.1f} s; on {len(sample)} sampled records ({int((truth >= 0).sum())} with an "
          f"earlier record at cosine >= {SEMANTIC_COSINE}): precision {p:.4f}  recall {r:.4f}  same partner as exact {same:.4f}")
    half = len(vectors) // 2
    started = time.perf_counter()
    against = semantic_matches(vectors[half:], SEMANTIC_COSINE, against=vectors[:half])
    against_seconds = time.perf_counter() - started
    rows = sample[sample >= half]
    sims = vectors[rows] @ vectors[:half].T
    best = np.argmax(sims, axis=1)
    truth_against = np.where(sims[np.arange(len(rows)), best] >= SEMANTIC_COSINE, best, -1)
    p, r, same = score(against.index[rows - half], truth_against)
    print(f"semantic against {half} prior records, {len(vectors) - half} current: {against_seconds:.1f} s; "
          f"precision {p:.4f}  recall {r:.4f}  same partner {same:.4f}")

    old_n = min(args.old_n, len(vectors))
    started = time.perf_counter()
    _old_all_pairs(vectors[:old_n], SEMANTIC_COSINE)
    old_seconds = (time.perf_counter() - started) * (len(vectors) / old_n) ** 2
    print(f"old all-pairs search: {time.perf_counter() - started:.1f} s on {old_n} records, ~{old_seconds:.0f} s at "
          f"{len(vectors)} (n^2); new / old = {new_seconds / old_seconds:.3f} ({old_seconds / new_seconds:.0f}x faster)")


if __name__ == "__main__":
    main()
