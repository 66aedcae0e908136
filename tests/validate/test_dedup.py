"""Dedup stages on labelled cases: exact, near and semantic duplicates vs true non-duplicates."""

import numpy as np

from mbdg_assets.validate.dedup import (cosine_neighbours, find_duplicates, lsh_candidate_pairs, minhash_signatures,
                                   semantic_matches, shingles)

BASE = ("The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident channel "
        "within 15 minutes, then pages the incident commander, who coordinates the response, assigns a scribe "
        "to keep the timeline and decides when the incident is resolved and the review can start")
NEAR = BASE.replace("assigns a scribe", "assigns one scribe")  # one word changed in 45
OTHER_TOPIC = "A standard batch is 12 kg of green coffee and loses about 15 percent of its weight during roasting."
SAME_TEMPLATE = BASE.split(", then")[0] + ", then posts a status update for customers every 30 minutes until the fix is deployed"


def test_exact_near_and_non_duplicates_are_told_apart():
    texts = [BASE, BASE.upper() + " !", NEAR, OTHER_TOPIC, SAME_TEMPLATE]
    result = find_duplicates(["base", "exact", "near", "other", "template"], texts)
    assert result.kind == ["", "exact", "near", "", ""]
    assert result.duplicate_of == [None, "base", "base", None, None]
    assert result.similarity[2] >= 0.9


def test_the_first_member_is_kept_and_chains_point_at_it():
    # records arrive best-scored first; a copy of a copy points at the kept original
    near_of_near = NEAR.replace("opens an incident", "opens the incident")
    result = find_duplicates(["best", "second", "third"], [BASE, NEAR, near_of_near])
    assert result.duplicate_of == [None, "best", "best"]


def test_prior_accepted_records_make_current_ones_duplicates():
    result = find_duplicates(["new-1", "new-2"], [NEAR, OTHER_TOPIC], prior_keys=["old"], prior_texts=[BASE])
    assert result.kind == ["near", ""] and result.duplicate_of == ["old", None]


def test_semantic_duplicates_by_cosine_inside_the_run_and_against_prior():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 16))
    vectors = np.stack([a, a + 0.05 * rng.standard_normal(16), b]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prior = (c / np.linalg.norm(c))[None, :].astype(np.float32)
    texts = ["first wording of one fact", "a different wording of the same fact", "an unrelated fact entirely"]
    result = find_duplicates(["x", "y", "z"], texts, vectors)
    assert result.kind == ["", "semantic", ""] and result.duplicate_of[1] == "x"
    against_prior = find_duplicates(["z"], ["an unrelated fact"], vectors[2:], ["old"], ["old text"], np.stack([vectors[2]]))
    assert against_prior.kind == ["semantic"] and against_prior.duplicate_of == ["old"]
    assert len(cosine_neighbours(vectors, 0.9, against=prior)) == 0


def test_lsh_finds_planted_near_duplicates_among_many_records():
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab, 60)) for _ in range(400)]
    copies = []
    for i in range(0, 400, 10):  # 40 near copies: one word substituted
        words = texts[i].split()
        words[30] = "changed"
        copies.append(" ".join(words))
    sig = minhash_signatures([shingles(t) for t in texts + copies])
    pairs = {tuple(p) for p in lsh_candidate_pairs(sig).tolist()}
    found = sum((i, 400 + k) in pairs for k, i in enumerate(range(0, 400, 10)))
    assert found == 40
    result = find_duplicates([str(i) for i in range(440)], texts + copies)
    assert sum(1 for k in result.kind if k) == 40


def _clustered(n: int, dim: int = 32, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Topic-clustered unit vectors plus, at the end, one noisy copy (cosine ~0.95) per 10 records."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((20, dim))
    base = topics[rng.integers(0, 20, n)] + 0.8 * rng.standard_normal((n, dim))
    originals = rng.choice(n, n // 10, replace=False)
    copies = base[originals] + 0.2 * rng.standard_normal((len(originals), dim)) * np.linalg.norm(base[originals], axis=1, keepdims=True) / np.sqrt(dim)
    vectors = np.concatenate([base, copies]).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), originals


def test_exact_semantic_matches_agree_with_all_pairs():
    vectors, _ = _clustered(600)
    matches = semantic_matches(vectors, 0.9)
    pairs = cosine_neighbours(vectors, 0.9)
    best = {}
    for i, j, s in pairs.tolist():  # the reference: each later record's most similar earlier one
        if s > best.get(int(j), (None, -1))[1]:
            best[int(j)] = (int(i), s)
    assert {j: i for j, (i, _) in best.items()} == {j: int(matches.index[j]) for j in np.flatnonzero(matches.index >= 0)}
    assert len(best) >= 60  # the planted copies are found


def test_bucket_search_finds_what_exact_search_finds():
    vectors, originals = _clustered(3000)
    exact = semantic_matches(vectors, 0.9)
    buckets = semantic_matches(vectors, 0.9, exact_max=0)  # force the k-means bucket path
    found, truth = buckets.index >= 0, exact.index >= 0
    assert not (found & ~truth).any()  # every match it reports is real
    assert (found & truth).sum() >= 0.98 * truth.sum()
    agree = buckets.index[found] == exact.index[found]
    assert agree.mean() >= 0.95
    copies = np.arange(3000, 3000 + len(originals))
    assert (buckets.index[copies] >= 0).mean() >= 0.98


def test_bucket_search_against_prior_records():
    vectors, originals = _clustered(3000)
    prior, current = vectors[:3000], vectors[3000:]
    exact = semantic_matches(current, 0.9, against=prior)
    buckets = semantic_matches(current, 0.9, against=prior, exact_max=0)
    assert (exact.index == originals).mean() >= 0.95
    assert (buckets.index == exact.index).mean() >= 0.95
    assert not ((buckets.index >= 0) & (exact.index < 0)).any()


def test_a_cluster_of_identical_vectors_is_linear_and_points_at_the_first():
    rng = np.random.default_rng(3)
    vectors = np.concatenate([np.tile(rng.standard_normal(24), (400, 1)), rng.standard_normal((200, 24))]).astype(np.float32)
    keys = [str(i) for i in range(len(vectors))]
    texts = [f"record number {i} with its own words {i * 7919}" for i in range(len(vectors))]
    for exact_max in (5e7, 0):
        matches = semantic_matches(vectors, 0.9, exact_max=exact_max)
        assert (matches.index[1:400] >= 0).all() and matches.index[0] == -1
        assert (matches.index[1:400] < np.arange(1, 400)).all()
    result = find_duplicates(keys, texts, vectors)
    assert result.kind[:400] == [""] + ["semantic"] * 399
    assert set(result.duplicate_of[1:400]) == {"0"}


def test_broken_vectors_match_nothing_and_do_not_hide_other_matches():
    vectors, _ = _clustered(300)
    broken = vectors.copy()
    broken[5] = np.nan
    broken[6] = 0.0
    clean, dirty = semantic_matches(vectors, 0.9), semantic_matches(broken, 0.9)
    assert dirty.index[5] == -1 and dirty.index[6] == -1
    others = (clean.index != 5) & (clean.index != 6) & (np.arange(len(vectors)) > 6)
    assert (dirty.index[others] == clean.index[others]).all()
