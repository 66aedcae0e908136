"""The round-trip match check with the real embedding model (all-MiniLM-L6-v2, offline): a
question its fact answers passes; a question about another sentence, or another clause, of the
passage fails, at generation (the winner rule) and in the validator's schema stage."""

import pytest

from mbdg_assets.enrich.embeddings import Embedder
from mbdg_assets.generate.candidates import Candidate, GenerationParams, _match_fact, select_winner
from mbdg_assets.generate.facts import chunk_facts
from mbdg_assets.generate.planning import Target
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.validate.question_match import clauses, question_matches
from mbdg_assets.validate.validator import validate_candidates

PASSAGE = ("The on-call engineer acknowledges a severity 1 page within 5 minutes. "
           "The communications lead posts a status update every 30 minutes. "
           "A written review is due within 5 working days of every severity 1 incident.")
UPDATE = "The communications lead posts a status update every 30 minutes."
ROAST = ("First crack is expected between minute 8 and minute 10; a filter roast ends about 90 seconds after first "
         "crack, an espresso roast about 150 seconds after it.")


@pytest.fixture(scope="module")
def embed():
    return Embedder().embed


def test_a_question_its_fact_answers_passes_and_one_about_another_sentence_fails(embed):
    good, other = question_matches(["How often does the communications lead post a status update?",
                                    "How quickly must the on-call engineer acknowledge a page?"], UPDATE, PASSAGE, embed)
    assert good.ok and good.margin > 0 and good.similarity >= 0.5
    assert not other.ok and other.margin < 0 and "another sentence" in other.why
    assert other.nearest.startswith("The on-call engineer")


def test_a_question_about_another_clause_of_its_sentence_fails(embed):
    assert clauses(ROAST) == ["First crack is expected between minute 8 and minute 10",
                              "a filter roast ends about 90 seconds after first crack",
                              "an espresso roast about 150 seconds after it."]
    filter_, espresso = question_matches(["How long after first crack does a filter roast end?",
                                          "How long after first crack does an espresso roast end?"],
                                         ROAST, ROAST, embed, span="90 seconds")
    assert filter_.ok
    assert not espresso.ok and "another part of its sentence" in espresso.why


def _candidate(rank: int, question: str, target: Target) -> Candidate:
    return Candidate(f"c{rank}", target.target_id, "c-1", rank, question,
                     {"instruction": question, "input": "", "output": target.fact.text}, None, reward=0.9 - rank / 100,
                     detail={"field": {"instruction": {"present": 1.0}}})


def test_the_winner_is_a_question_its_fact_answers(embed):
    chunk = {"chunk_id": "c-1", "text": PASSAGE, "heading_path": []}
    fact = next(f for f in chunk_facts(chunk) if f.text == UPDATE)
    target = Target("t-1", chunk, fact=fact)
    template = load_template("instruction_pair", "extractive")
    off = _candidate(0, "How quickly must the on-call engineer acknowledge a page?", target)  # the higher reward
    on = _candidate(1, "How often does the communications lead post a status update?", target)
    _match_fact([off, on], target, template, GenerationParams(embed=embed))
    assert off.detail["field"]["instruction"]["fact_match"] == 0.0 and "why" in off.detail["match"]
    assert select_winner([off, on]) is on
    assert select_winner([off]) is None  # no question that its fact answers: no record


def test_the_schema_stage_rejects_an_extractive_record_whose_fact_does_not_answer_it(embed):
    chunk = {"chunk_id": "c-1", "doc_id": "d-1", "path": "policy.md", "topic": "t", "text": PASSAGE}
    generation = {"answer_mode": "extractive", "fact": UPDATE, "fact_span": "30 minutes"}

    def record(cid: str, question: str) -> dict:
        return {"candidate_id": cid, "fields": {"instruction": question, "input": "", "output": UPDATE},
                "reward": 0.9, "generation": generation, "chunk": chunk}

    schema = load_template("instruction_pair").json_schema
    records = validate_candidates([record("on", "How often does the communications lead post a status update?"),
                                   record("off", "How quickly must the on-call engineer acknowledge a page?")],
                                  "instruction_pair", schema, embedder=Embedder())
    by_id = {r.candidate_id: r for r in records}
    assert by_id["on"].stage_scores["schema"] == 1.0
    assert by_id["off"].decision == "AUTO_REJECT" and any("another sentence" in r for r in by_id["off"].reasons)
    assert records.stages["schema"].kinds["off_fact"] == 1
