"""Dedup stages on labelled cases: exact, near and semantic duplicates vs true non-duplicates."""

import numpy as np

from mbdg_assets.core.dedup import cosine_neighbours, find_duplicates, lsh_candidate_pairs, minhash_signatures, shingles

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
