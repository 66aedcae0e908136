"""Question form: word joins the passage lacks, fluency relative to the fact, the winner rule and
the schema stage's review gate."""

import math

import pytest

from mbdg_assets.enrich.embeddings import Embedder
from mbdg_assets.generate.candidates import Candidate, select_winner
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.validate.question_fluency import (MIN_FLUENCY, copied_run, form_faults, form_source, predicate_words,
                                                   relative_fluency, undefined_subject, unseen_joins, well_formed)
from mbdg_assets.validate.validator import validate_candidates

PASSAGE = ("The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident channel "
           "within 15 minutes. Severity 2 pages are acknowledged within 15 minutes. A severity 1 incident is a full "
           "outage of a customer-facing service. A written review is due within 5 working days of every incident.")
REVIEW = "A written review is due within 5 working days of every incident."
SEVERITY_2 = "Severity 2 pages are acknowledged within 15 minutes."


def test_garbled_joins_are_found_and_the_passage_phrases_pass():
    assert unseen_joins("How long does it take to respond to severity 2 pages of a customer service response?",
                        PASSAGE) == ["customer service", "service response"]
    assert unseen_joins("How many working days does the written review address the incident?", PASSAGE) == \
        ["review address"]
    for question in ("How soon are severity 2 pages acknowledged?",
                     "How many working days after an incident is a written review due?",
                     "How quickly does the on-call engineer acknowledge a severity 1 page?",  # "engineer acknowledges"
                     "What is a full outage of a customer-facing service?"):
        assert unseen_joins(question, PASSAGE) == [], question


def test_a_second_question_is_a_fault_of_form():
    two = ("How long does the on-call engineer have to acknowledge a severity 1 page, and how would you determine it?",
           "When is a written review due and what does it list?", "How soon are pages acknowledged? Why is it so?")
    for question in two:
        faults = form_faults(question, PASSAGE)
        assert len(faults) == 1 and "asks two things" in faults[0], question
    for question in ("How soon are severity 2 pages and severity 1 pages acknowledged?",
                     "What is a full outage of a customer-facing service?"):
        assert form_faults(question, PASSAGE) == [], question


def test_a_question_must_ask_about_what_its_fact_says_of_its_subject():
    fact, span = REVIEW, "5 working days"
    assert sorted(predicate_words(fact, span)) == ["due", "incident"]
    assert form_faults("How many working days can a written review be?", PASSAGE, fact, span) == \
        ["the question names its fact's subject but nothing the fact says of it"]
    assert form_faults("How many working days after an incident is a written review due?", PASSAGE, fact, span) == []
    assert form_faults("What are pages?", PASSAGE, SEVERITY_2, "15 minutes") != []
    # no auxiliary among its first words: the subject cannot be told apart by rule, nothing is asked of it
    assert predicate_words("Bags hold 250 grams or 1 kilogram and carry the roast date.", "250 grams") == set()


def test_a_question_that_copies_its_answer_is_a_fault_for_a_fact_without_key_value():
    fact = ("If you want to install local certificate authorities to be implicitly trusted, please put the certificate "
            "files as single files ending with .crt into the certificates folder.")
    question = "How to install local certificate authorities to be implicitly trusted, please put the certificate files?"
    assert copied_run(question, fact) == 14
    assert form_faults(question, fact, fact) == ["the question restates its answer (14 words of it in a row)"]
    assert form_faults("What should you do to install a local certificate authority?", fact, fact) == []
    # with a key value the value is hidden: restating the rest is how a label is asked for
    label = "A severity 1 incident is a full outage of a customer-facing service or any loss of customer data."
    question = "What is the severity of a full outage of a customer-facing service or any loss of customer data?"
    assert copied_run(question, label) >= 8 and form_faults(question, label, label, "severity 1") == []


def test_a_definition_question_needs_a_defining_fact():
    fact = "Full responsibility to assess them belongs to the local system administrator."
    assert undefined_subject("What is the full responsibility to assess them?", fact)
    assert undefined_subject("What is the home directory?", "The home directory is preserved and never removed.")
    assert not undefined_subject("What is a severity 1 incident?", "A severity 1 incident is a full outage of a service.")
    assert not undefined_subject("Who owns the full responsibility to assess them?", fact)
    assert not undefined_subject("What is the incident commander's role?",
                                 "The incident commander coordinates the response and decides when it is resolved.")


def test_headings_count_as_the_passage():
    chunk = {"text": PASSAGE, "heading_path": ["Incident Response Policy", "Reviews"]}
    question = "When is the incident response policy's written review due?"
    assert unseen_joins(question, PASSAGE) == ["incident response", "response policy"]
    assert unseen_joins(question, form_source([chunk])) == []


def test_relative_fluency_is_the_question_minus_its_fact_in_one_call():
    calls = []

    def score(texts):
        calls.append(texts)
        return [-3.0 if t == REVIEW else -len(t) / 20 for t in texts]

    got = relative_fluency(["How long?", "x" * 100], REVIEW, score)
    assert len(calls) == 1 and calls[0][-1] == REVIEW
    assert got == [round(-9 / 20 + 3.0, 4), round(-5.0 + 3.0, 4)]
    assert math.isnan(relative_fluency(["How long?"], REVIEW, lambda texts: [math.nan, -3.0])[0])
    assert well_formed([], got[0]) and not well_formed([], got[1]) and not well_formed(["a b"], None)
    assert well_formed([], None) and well_formed([], math.nan)  # unmeasured: only the joins decide


def _candidate(rank: int, question: str, reward: float, form: dict) -> Candidate:
    return Candidate(f"c{rank}", "t-1", "c-1", rank, question, {"instruction": question, "input": "", "output": REVIEW},
                     None, reward=reward, detail={"field": {"instruction": {"present": 1.0}}, "form": form})


def test_the_winner_is_a_question_in_good_form_then_the_more_fluent():
    garbled = _candidate(0, "How many working days does the written review address the incident?", 0.99,
                         {"faults": ["joins"], "fluency": 0.5})
    plain = _candidate(1, "How many working days after an incident is a written review due?", 0.90,
                       {"faults": [], "fluency": 0.0})
    assert select_winner([garbled, plain]) is plain
    halting = _candidate(2, "How many working days is a written review due of every incident?", 0.91,
                         {"faults": [], "fluency": MIN_FLUENCY - 0.5})
    assert select_winner([halting, plain]) is plain  # below MIN_FLUENCY: in poor form
    fluent = _candidate(3, "When is a written review due?", 0.89, {"faults": [], "fluency": 0.6})
    assert select_winner([plain, fluent]) is fluent  # 0.89 + 0.05 x 0.6 > 0.90


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def test_the_schema_stage_sends_a_question_in_poor_form_to_review(embedder):
    chunk = {"chunk_id": "c-1", "doc_id": "d-1", "path": "policy.md", "topic": "t", "text": PASSAGE}

    def record(cid: str, question: str, fact: str, span: str, fluency: float | None = None) -> dict:
        generation = {"answer_mode": "extractive", "fact": fact, "fact_span": span}
        if fluency is not None:
            generation["question_fluency"] = fluency
        return {"candidate_id": cid, "fields": {"instruction": question, "input": "", "output": fact},
                "reward": 0.9, "generation": generation, "chunk": chunk}

    records = validate_candidates([
        record("good", "How soon are severity 2 pages acknowledged?", SEVERITY_2, "15 minutes", 0.3),
        record("garbled", "How long does it take to respond to severity 2 pages of a customer service response?",
               SEVERITY_2, "15 minutes"),
        record("disfluent", "How many working days is a written review due of every incident?", REVIEW,
               "5 working days", MIN_FLUENCY - 0.2),
    ], "instruction_pair", load_template("instruction_pair").json_schema, embedder=embedder)
    by_id = {r.candidate_id: r for r in records}
    assert not [r for r in by_id["good"].reasons if r.startswith("schema")]
    assert by_id["garbled"].decision == "REQUIRE_REVIEW"
    assert any("never joins (customer service, service response)" in r for r in by_id["garbled"].reasons)
    assert by_id["disfluent"].decision == "REQUIRE_REVIEW"
    assert any("reads garbled" in r for r in by_id["disfluent"].reasons)
