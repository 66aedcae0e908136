"""Deduplication in three strengths: exact, near (MinHash LSH) and semantic (embedding cosine).

All three work on whole tables at once rather than record by record: MinHash signatures come from
rensa's bulk digest matrix (measured 12x faster than datasketch here), LSH banding is a numpy
group-by over band hashes, and semantic neighbours come from matrix products of L2-normalised
vectors: exact for small inputs, inside k-means buckets with multi-probe for large ones. Records
are given best-scored first, so in every duplicate cluster the first member (the better-scored) is
kept and every other member points at it (`duplicate_of`).

Earlier accepted records (from previous runs) are passed as a `prior` table: they are never
themselves marked, but a current record that duplicates one of them is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mbdg_assets.shared.text import normalized_text, words

NEAR_JACCARD = 0.9      # the default; the usual near-dup cut in web-scale dedup (e.g. Lee et al. 2022 use 0.8)
SEMANTIC_COSINE = 0.9   # the default; MiniLM paraphrases of one fact score 0.85-0.95
NUM_PERM = 128          # 128 permutations: Jaccard estimate std ~0.03 near 0.9
BANDS = 16              # 16 bands x 8 rows: P(candidate | J=0.9) = 0.9999, P(candidate | J=0.5) = 0.06
SHINGLE = 2             # word bigrams: records are short (tens of words); with 5-grams (web-scale practice)
                        # one changed word in a 50-word record already drops Jaccard to 0.82
SEED = 42
EXACT_MAX_PRODUCTS = 5e7  # up to ~10k records (n^2 / 2 products, ~1 s here) semantic search is exact
BUCKETS_PER_SQRT = 3.0  # k-means buckets per sqrt(indexed records): fewer make bigger products, more a costlier assignment
PROBES = 6              # buckets each query searches above that (see semantic_matches for the measured recall)


@dataclass
class DedupResult:
    """For each current record: the kind of duplicate it is ('' when unique) and of which key."""
    kind: list[str]
    duplicate_of: list[str | None]
    similarity: list[float] = field(default_factory=list)


def shingles(text: str, n: int = SHINGLE) -> set[str]:
    """Word n-grams of the normalised text; a text shorter than n is its own single shingle."""
    tokens = words(text)
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else {""}
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def minhash_signatures(shingle_sets: list[set[str]], num_perm: int = NUM_PERM, seed: int = SEED) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures of shingle sets, via rensa's bulk digest matrix."""
    if not shingle_sets:
        return np.zeros((0, num_perm), dtype=np.uint32)
    import rensa

    matrix = rensa.RMinHash.digest_matrix_from_token_sets([list(s) for s in shingle_sets], num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32)


def _band_keys(signatures: np.ndarray, bands: int) -> np.ndarray:
    """(n, bands) uint64 hash of each band's rows (a multiply-xor mix; collisions only add candidates,
    which the Jaccard verification then drops)."""
    n, perm = signatures.shape
    rows = perm // bands
    sig = signatures[:, : rows * bands].astype(np.uint64).reshape(n, bands, rows)
    keys = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = (keys * np.uint64(0x100000001B3)) ^ sig[:, :, r]
    return keys


def lsh_candidate_pairs(signatures: np.ndarray, bands: int = BANDS, max_bucket: int = 64) -> np.ndarray:
    """(m, 2) index pairs (i < j) sharing at least one LSH band. Within a bucket each member is
    paired with the bucket's earlier members, up to `max_bucket` of them: a huge bucket means a
    boilerplate text, and pairing it with its first members already clusters it."""
    n = len(signatures)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    keys = _band_keys(signatures, bands)
    pairs = []
    for b in range(bands):
        order = np.argsort(keys[:, b], kind="stable")
        sorted_keys = keys[order, b]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        starts = np.flatnonzero(np.concatenate(([True], ~same)))
        sizes = np.diff(np.append(starts, n))
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
            members = np.sort(order[start : start + size])
            for offset in range(1, min(size, max_bucket)):
                pairs.append(np.stack([members[:-offset], members[offset:]], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def exact_jaccard(sets: list[set[str]], pairs: np.ndarray) -> np.ndarray:
    """True Jaccard of each candidate pair's shingle sets. LSH only proposes pairs; verifying them
    exactly (cheap: a few per record) avoids the MinHash estimate's +-0.03 noise right at 0.9."""
    out = np.empty(len(pairs))
    for row, (a, b) in enumerate(pairs.tolist()):
        x, y = sets[a], sets[b]
        out[row] = len(x & y) / (len(x | y) or 1)
    return out


def cosine_neighbours(vectors: np.ndarray, threshold: float = SEMANTIC_COSINE, block: int = 2048,
                      against: np.ndarray | None = None) -> np.ndarray:
    """(m, 3) rows (i, j, cosine) of every pair with cosine >= threshold, by exact blocked products
    of normalised vectors. Without `against`: pairs inside `vectors` with i < j (only the blocks on
    and right of the diagonal are computed); with it: i indexes `vectors`, j indexes `against`.
    All pairs cost n^2: the dedup stage uses `semantic_matches`, this is the exact reference."""
    other = vectors if against is None else against
    found = []
    for start in range(0, len(vectors), block):
        first = start if against is None else 0
        sims = vectors[start : start + block] @ other[first:].T
        if against is None:  # the diagonal block: keep j > i only
            sims[:, : len(sims)][np.tril(np.ones((len(sims), len(sims)), dtype=bool))] = -1.0
        i, j = np.nonzero(sims >= threshold)
        found.append(np.stack([i + start, j + first, sims[i, j]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 3))


@dataclass(frozen=True)
class Matches:
    """Per query record: the index of its most similar match (-1 for none at or above the
    threshold) and that cosine."""
    index: np.ndarray
    cosine: np.ndarray


def semantic_matches(vectors: np.ndarray, threshold: float = SEMANTIC_COSINE, against: np.ndarray | None = None,
                     exact_max: float = EXACT_MAX_PRODUCTS, probes: int = PROBES, seed: int = SEED) -> Matches:
    """For each row of `vectors`, its most similar row of `against` (without it: the most similar
    earlier row of `vectors`) with cosine >= threshold. Dedup needs only that one match per record
    (the better-scored earlier record it is marked against), so no pair list is ever built, and
    a cluster of 10k identical records costs 10k results, not 50M pairs.

    Up to `exact_max` vector products it is exact (blocked products). Above, vectors go into
    spherical k-means buckets (3 sqrt(n) of them): each indexed vector into its nearest centroid's
    bucket, each query compared, by one matrix product per bucket, with the members of its
    `probes` nearest buckets. Measured on 100k tiled all-MiniLM-L6-v2 embeddings with 3% planted
    paraphrase-like copies (bench/bench_dedup.py), against exact search of all 100k: recall of
    records that have a match 0.987 at 2 probes, 0.995 at 3, 0.997 at 4, 0.999 at 6 (precision 1:
    every reported cosine is computed exactly); 3.5 s at 6 probes where all pairs took ~200 s.
    faiss's IndexIVFFlat.range_search was measured too: it scans the probed lists vector by vector
    rather than by matrix products, and took 6.6 s for 5k queries at 4 probes of 256 lists
    (~130 s for 100k), so the buckets are numpy, with no extra dependency.
    """
    vectors = unit_rows(vectors)
    base = vectors if against is None else unit_rows(against)
    products = len(vectors) * len(base) / (2 if against is None else 1)
    if products <= exact_max:
        return _exact_matches(vectors, base, threshold, self_join=against is None)
    return _bucket_matches(vectors, base, threshold, self_join=against is None, probes=probes, seed=seed)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to length 1; a zero or non-finite row (a failed embedding) becomes zeros,
    which matches nothing, instead of a NaN that would win every argmax beside it."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1) if len(x) else np.zeros(0, dtype=np.float32)
    bad = ~np.isfinite(norms) | (norms == 0)
    x = x / np.where(bad, 1.0, norms)[:, None]
    x[bad] = 0.0
    return np.ascontiguousarray(x)


def _exact_matches(vectors: np.ndarray, base: np.ndarray, threshold: float, self_join: bool,
                   block: int = 2048) -> Matches:
    index = np.full(len(vectors), -1, dtype=np.int64)
    cosine = np.zeros(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), block):
        rows = vectors[start : start + block]
        sims = rows @ base[: start + len(rows)].T if self_join else rows @ base.T
        if self_join:  # only earlier records: j < i, masked on the last (diagonal) block alone
            sims[:, start:][np.triu(np.ones((len(rows), len(rows)), dtype=bool))] = -2.0
        if not sims.shape[1]:
            continue
        best = np.argmax(sims, axis=1)
        value = sims[np.arange(len(rows)), best]
        hit = value >= threshold
        index[start : start + len(rows)][hit] = best[hit]
        cosine[start : start + len(rows)][hit] = value[hit]
    return Matches(index, cosine)


def spherical_kmeans(vectors: np.ndarray, k: int, iterations: int = 6, per_centroid: int = 24,
                     seed: int = SEED) -> np.ndarray:
    """(k, d) unit centroids from a sample of `per_centroid` x k vectors: a few Lloyd rounds with
    cosine assignment. The buckets only have to keep close vectors together, not be optimal."""
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(len(vectors), min(len(vectors), k * per_centroid), replace=False)]
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(iterations):
        labels = _nearest_centroids(sample, centroids, 1)[:, 0]
        order = np.argsort(labels, kind="stable")
        starts = np.flatnonzero(np.diff(labels[order], prepend=-1))
        sums = np.zeros_like(centroids)
        sums[labels[order][starts]] = np.add.reduceat(sample[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centroids)  # an empty bucket keeps its centroid
    return centroids.astype(np.float32)


def _nearest_centroids(vectors: np.ndarray, centroids: np.ndarray, p: int, block: int = 8192) -> np.ndarray:
    """(n, p) indices of each vector's p most similar centroids, best first (p passes of argmax:
    several times faster than argpartition for the few probes used here)."""
    out = np.empty((len(vectors), p), dtype=np.int64)
    for start in range(0, len(vectors), block):
        sims = vectors[start : start + block] @ centroids.T
        rows = np.arange(len(sims))
        for rank in range(p):
            out[start : start + block, rank] = best = np.argmax(sims, axis=1)
            sims[rows, best] = -np.inf
    return out


def _bucket_matches(vectors: np.ndarray, base: np.ndarray, threshold: float, self_join: bool, probes: int,
                    seed: int, cell: int = 1 << 22) -> Matches:
    """Multi-probe bucket search; in a self join a pair is found when either member's home bucket
    is among the other's probes, and each found pair offers itself to its later member."""
    k = int(min(max(16, BUCKETS_PER_SQRT * np.sqrt(len(base))), len(base)))
    centroids = spherical_kmeans(base, k, seed=seed)
    probes = min(probes, k)
    query_top = _nearest_centroids(vectors, centroids, probes)
    home = query_top[:, 0] if self_join else _nearest_centroids(base, centroids, 1)[:, 0]
    members = np.argsort(home, kind="stable")
    member_bounds = np.searchsorted(home[members], np.arange(k + 1))
    flat = query_top.ravel()
    order = np.argsort(flat, kind="stable")
    queries, query_bounds = np.repeat(np.arange(len(vectors)), probes)[order], np.searchsorted(flat[order], np.arange(k + 1))
    found = []  # (query, match, cosine) candidates at or above the threshold
    for c in range(k):
        m = members[member_bounds[c] : member_bounds[c + 1]]
        q_all = queries[query_bounds[c] : query_bounds[c + 1]]
        if not len(m) or not len(q_all):
            continue
        step = max(1, cell // len(m))
        for start in range(0, len(q_all), step):
            q = q_all[start : start + step]
            found.append(_bucket_hits(vectors[q] @ base[m].T, q, m, threshold, self_join))
    return _reduce(found, len(vectors))


def _bucket_hits(sims: np.ndarray, q: np.ndarray, m: np.ndarray, threshold: float, self_join: bool) -> np.ndarray:
    """(h, 3) rows (query, match, cosine) from one bucket's products; in a self join each pair is
    offered to its later member. Hits are usually sparse and taken as they are; a dense block (a
    cluster of near-identical records) is reduced to each record's best partner instead, so its
    size stays linear in the block's records."""
    if self_join:
        _, qi, mi = np.intersect1d(q, m, assume_unique=True, return_indices=True)
        sims[qi, mi] = -2.0  # a record is not its own duplicate
    i, j = np.nonzero(sims >= threshold)
    if len(i) <= 8 * (len(q) + len(m)):
        a, b = q[i], m[j]
        if not self_join:
            return np.stack([a, b, sims[i, j]], axis=1)
        return np.stack([np.maximum(a, b), np.minimum(a, b), sims[i, j]], axis=1)
    if not self_join:
        return _best_of(sims, q, m, None, threshold, axis=1)
    later = q[:, None] > m[None, :]
    return np.concatenate([_best_of(sims, q, m, later, threshold, axis=1),     # later query, earlier member
                           _best_of(sims, m, q, ~later, threshold, axis=0)])  # later member, earlier query


def _best_of(sims: np.ndarray, later: np.ndarray, earlier: np.ndarray, allowed: np.ndarray | None,
             threshold: float, axis: int) -> np.ndarray:
    """(m, 3) rows (later, earlier, cosine): each `later` index's best allowed partner along `axis`."""
    masked = sims if allowed is None else np.where(allowed, sims, -2.0)
    best = np.argmax(masked, axis=axis)
    value = np.take_along_axis(masked, np.expand_dims(best, axis), axis=axis).squeeze(axis)
    hit = value >= threshold
    return np.stack([later[hit], earlier[best[hit]], value[hit]], axis=1)


def _reduce(found: list[np.ndarray], n: int) -> Matches:
    """Keep the best candidate per query (ties: the earliest match, i.e. the better-scored)."""
    index = np.full(n, -1, dtype=np.int64)
    cosine = np.zeros(n, dtype=np.float32)
    rows = np.concatenate(found) if found else np.zeros((0, 3))
    if len(rows):
        rows = rows[np.lexsort((rows[:, 1], -rows[:, 2], rows[:, 0]))]
        first = np.concatenate(([True], rows[1:, 0] != rows[:-1, 0]))
        q = rows[first, 0].astype(np.int64)
        index[q], cosine[q] = rows[first, 1].astype(np.int64), rows[first, 2]
    return Matches(index, cosine)


def _mark(result: DedupResult, i: int, kind: str, of: str, similarity: float) -> None:
    if not result.kind[i]:
        result.kind[i], result.duplicate_of[i], result.similarity[i] = kind, of, round(float(similarity), 4)


def find_duplicates(keys: list[str], texts: list[str], vectors: np.ndarray | None = None,
                    prior_keys: list[str] | None = None, prior_texts: list[str] | None = None,
                    prior_vectors: np.ndarray | None = None, near_jaccard: float = NEAR_JACCARD,
                    semantic_cosine: float = SEMANTIC_COSINE, signatures: np.ndarray | None = None,
                    prior_signatures: np.ndarray | None = None) -> DedupResult:
    """Mark every record that duplicates an earlier (better-scored) one or a prior accepted record.

    `keys`/`texts` (and `vectors`, optional: no vectors, no semantic stage) are ordered best-scored
    first. A record is compared with the records before it, so the kept member of a cluster is the
    first; a record already marked does not make later records duplicates of itself (it points at
    the kept one through the chain instead). Exact beats near beats semantic when several apply.
    """
    n = len(keys)
    result = DedupResult([""] * n, [None] * n, [0.0] * n)
    prior_keys, prior_texts = prior_keys or [], prior_texts or []
    _exact(result, keys, texts, prior_keys, prior_texts)
    sets = [shingles(t) for t in texts]
    prior_sets = [shingles(t) for t in prior_texts]
    sig = signatures if signatures is not None else minhash_signatures(sets)
    prior_sig = prior_signatures if prior_signatures is not None else minhash_signatures(prior_sets)
    _near(result, keys, prior_keys, np.concatenate([prior_sig, sig]), prior_sets + sets, near_jaccard)
    if vectors is not None and len(vectors):
        _semantic(result, keys, vectors, prior_keys, prior_vectors, semantic_cosine)
    return result


def _exact(result: DedupResult, keys: list[str], texts: list[str], prior_keys: list[str], prior_texts: list[str]) -> None:
    seen = {normalized_text(t): k for k, t in zip(prior_keys, prior_texts)}
    for i, text in enumerate(texts):
        norm = normalized_text(text)
        if norm in seen:
            _mark(result, i, "exact", seen[norm], 1.0)
        else:
            seen[norm] = keys[i]


def _resolve(result: DedupResult, index: dict[str, int], key: str) -> str:
    """The kept record a record points at: follow duplicate_of until an unmarked or prior record."""
    for _ in range(len(index) + 1):
        i = index.get(key)
        if i is None or not result.kind[i]:
            return key
        key = result.duplicate_of[i]
    return key


def _near(result: DedupResult, keys: list[str], prior_keys: list[str], combined: np.ndarray,
          sets: list[set[str]], threshold: float) -> None:
    """`combined` / `sets`: prior rows first, then the current records."""
    if not keys:
        return
    index = {k: i for i, k in enumerate(keys)}
    offset = len(prior_keys)
    pairs = lsh_candidate_pairs(combined)
    pairs = pairs[pairs[:, 1] >= offset]  # the later member must be a current record
    if not len(pairs):
        return
    sim = exact_jaccard(sets, pairs)
    pairs, sim = pairs[sim >= threshold], sim[sim >= threshold]
    order = np.lexsort((-sim, pairs[:, 1]))
    for (a, b), s in zip(pairs[order].tolist(), sim[order].tolist()):
        target = prior_keys[a] if a < offset else _resolve(result, index, keys[a - offset])
        _mark(result, b - offset, "near", target, s)


def _semantic(result: DedupResult, keys: list[str], vectors: np.ndarray, prior_keys: list[str],
              prior_vectors: np.ndarray | None, threshold: float) -> None:
    if prior_vectors is not None and len(prior_vectors):
        prior = semantic_matches(vectors, threshold, against=prior_vectors)
        for i in np.flatnonzero(prior.index >= 0).tolist():
            _mark(result, i, "semantic", prior_keys[int(prior.index[i])], prior.cosine[i])
    index = {k: i for i, k in enumerate(keys)}
    own = semantic_matches(vectors, threshold)
    for j in np.flatnonzero(own.index >= 0).tolist():  # ascending, so an earlier record's mark is final when a later one resolves through it
        _mark(result, j, "semantic", _resolve(result, index, keys[int(own.index[j])]), own.cosine[j])
