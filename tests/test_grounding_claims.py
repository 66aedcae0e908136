"""Claim-level grounding on labelled cases: supported answers vs a number changed, an entity
swapped, a negation added and an answer taken from another document."""

import pytest

from mbdg_assets.validate.grounding import claim_grounding, negation_differs, split_claims

SOURCE = ("Priya Raman owns vendor onboarding for the Northwind office. Every new supplier is reviewed by\n"
          "the procurement board, which meets on the first Tuesday of each month in Rotterdam. A vendor that\n"
          "fails the review may apply again after 90 days. Each sample bottle is filled to the shoulder, never to the cap.")
SUPPORTED = [
    "Priya Raman owns vendor onboarding for the Northwind office.",
    "The procurement board meets on the first Tuesday of each month in Rotterdam.",
    "A vendor that fails the review may apply again after 90 days.",
    "Each sample bottle is filled to the shoulder.",  # a negated clause left out is no contradiction
    "According to the guide, every new supplier is reviewed by the procurement board.",
]
ALTERED = {
    "number": "A vendor that fails the review may apply again after 30 days.",
    "entity": "Tomas Eklund owns vendor onboarding for the Northwind office.",
    "place": "The procurement board meets on the first Tuesday of each month in Antwerp.",
    "date": "The procurement board meets on the first Friday of each month in Rotterdam.",
    "negation": "A vendor that fails the review may not apply again after 90 days.",
    "negation_dropped": "Each sample bottle is filled to the cap.",
    "other_document": "A standard batch is 12 kg of green coffee and loses 15 percent of its weight.",
}


@pytest.mark.parametrize("answer", SUPPORTED)
def test_supported_answers_pass_the_gate(answer):
    result = claim_grounding(answer, SOURCE)
    assert result.score >= 0.6, result.claims


@pytest.mark.parametrize("kind", sorted(ALTERED))
def test_altered_answers_fall_below_the_gate_with_a_reason(kind):
    result = claim_grounding(ALTERED[kind], SOURCE)
    assert result.score < 0.6, result.claims
    assert result.reasons(0.6) and result.reasons(0.6)[0].startswith("grounding: unsupported claim")


def test_every_supported_score_beats_every_altered_score():
    supported = [claim_grounding(a, SOURCE).score for a in SUPPORTED]
    altered = [claim_grounding(a, SOURCE).score for a in ALTERED.values()]
    assert min(supported) > max(altered)


def test_spans_are_char_offsets_of_the_supporting_sentence():
    result = claim_grounding("The board meets in Rotterdam. A failed vendor may apply again after 90 days.", SOURCE)
    texts = [SOURCE[s:e] for s, e in result.spans]
    assert any("Rotterdam" in t for t in texts) and any("90 days" in t for t in texts)


def test_one_unsupported_essential_claim_sinks_the_record():
    answer = "Priya Raman owns vendor onboarding for the Northwind office. She also approves every invoice above 5,000 euros."
    result = claim_grounding(answer, SOURCE)
    assert len(result.claims) == 2 and result.score < 0.6


def test_claims_split_on_sentences_and_independent_clauses():
    claims = split_claims("The board meets monthly in Rotterdam; vendors send two references. Yes.")
    assert claims == ["The board meets monthly in Rotterdam", "vendors send two references.", "Yes."]


def test_negation_check_looks_at_what_the_negation_governs():
    assert negation_differs("The bottle is not filled to the shoulder.", "The bottle is filled to the shoulder.")
    assert not negation_differs("The bottle is filled to the shoulder.", "The bottle is filled to the shoulder, never to the cap.")


def test_embedding_evidence_is_optional_and_used_when_given():
    import numpy as np

    def embed(texts):  # a fake embedder: every text the same direction -> cosine 1
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    paraphrase = "Onboarding of suppliers at Northwind is Priya Raman's job."
    lexical = claim_grounding(paraphrase, SOURCE).claims[0]
    with_embedding = claim_grounding(paraphrase, SOURCE, embed).claims[0]
    assert with_embedding.semantic == 1.0 and with_embedding.score > lexical.score


def test_an_entailment_judge_hook_decides_claims_that_are_not_near_verbatim():
    paraphrase = "Vendors who were turned down can try again after 90 days."
    asked = []

    def judge(claim, window):
        asked.append(claim)
        return 0.1

    assert claim_grounding(paraphrase, SOURCE, judge=judge).score < 0.6 and asked == [paraphrase]
    verbatim = SUPPORTED[2]
    asked.clear()
    assert claim_grounding(verbatim, SOURCE, judge=judge).score >= 0.6 and asked == []
