"""Issue 13, first data from the embedded model: answer-first fact selection, the question form in
the decoding schema, extractive records (instruction pair, MCQ with same-kind distractors,
preference against a real worse sibling), batched candidates, coverage, the honest summary."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import jsonschema
import pytest

from mbdg_assets.generate import candidates as cand
from mbdg_assets.generate.facts import chunk_facts, distractors, document_facts, fact_units, mcq_options, value_pool
from mbdg_assets.generate.planning import document_plan, fact_need, plan_targets
from mbdg_assets.generate.rewards import MIN_FACT_FOCUS, fact_focus
from mbdg_assets.llm.backends import Generation
from mbdg_assets.llm.prompts import load_template, question_schema, resolve_answer_mode

POLICY = """## Response times

The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident
channel within 15 minutes. Severity 2 pages are acknowledged within 15 minutes. Severity 3
issues are handled during working hours.

The communications lead posts a status update every 30 minutes for severity 1 incidents."""

REVIEW = """## After the incident

A written review is due within 5 working days of every severity 1 incident. Reviews are
blameless: they describe systems and decisions, not people."""

ROASTING = """## Roasting

The roastery runs a 15 kg drum roaster. A standard batch is 12 kg of green coffee.
The roaster charges the drum at 200 degrees Celsius."""


def _chunk(cid: str, text: str, position: int, topic: int = 0) -> dict:
    return {"chunk_id": cid, "text": text, "position": position, "heading_path": [text.splitlines()[0][3:]],
            "topic_id": topic, "topic_label": f"topic {topic}", "key_phrases": ["on-call engineer acknowledges"],
            "entities": [], "entity_types": []}


CHUNKS = [_chunk("c1", POLICY, 0, 0), _chunk("c2", REVIEW, 1, 1), _chunk("c3", ROASTING, 2, 2)]


# ------------------------------------------------------------------------------ fact selection


def test_fact_units_join_wrapped_lines_and_drop_headings():
    units = fact_units(POLICY)
    assert "## Response times" not in units and not any(u.startswith("#") for u in units)
    assert ("The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident channel "
            "within 15 minutes.") in units  # two Markdown lines, one sentence
    assert fact_units("- Step one: unplug the roaster\n- Step two: clean\n  the drum") == [
        "Step one: unplug the roaster", "Step two: clean the drum"]
    assert fact_units("| Sack | 60 kg |\n|---|---|\n| Bag | 250 g |") == ["Sack; 60 kg", "Bag; 250 g"]


def test_facts_rank_information_first_and_keep_their_value():
    facts = chunk_facts(CHUNKS[0])
    assert facts[0].span == "5 minutes" and facts[0].kind == "QUANTITY" and facts[0].unit == "duration"
    labelled = next(f for f in facts if f.text.startswith("Severity 3 issues"))  # no value but a numbered label
    assert labelled.span == "Severity 3" and labelled.kind == "LABEL" and labelled.score < facts[0].score
    plain = chunk_facts({**CHUNKS[0], "text": "Reviews are blameless and describe systems, not people."})[0]
    assert plain.span is None and plain.kind == "STATEMENT"
    code = "` >>> from tzlocal import get_localzone >>> tz = get_localzone() `\n\nRun $ pip install h11 to get it first."
    assert chunk_facts({**CHUNKS[0], "text": code}) == []  # code and shell lines are no facts
    leaning = "This module returns the local time zone name. But, it is feature complete and has 40 tests."
    assert chunk_facts({**CHUNKS[0], "text": leaning}) == []  # sentences that lean on the one before


def test_plan_covers_every_chunk_before_asking_a_second_fact():
    plan = document_plan(CHUNKS, "v1", kinds=("base",))
    first_round = plan[:3]
    assert {t.chunk["chunk_id"] for t in first_round} == {"c1", "c2", "c3"}
    assert all(t.fact is not None for t in plan)
    assert len({t.fact.fact_id for t in plan}) == len(plan)  # no fact asked twice
    assert [t.target_id for t in plan_targets(CHUNKS, "v1", 2, kinds=("base",))] == [t.target_id for t in plan[:2]]


def test_a_sentence_shared_by_overlapping_chunks_is_one_fact():
    overlap = _chunk("c4", "## Response times\n\nSeverity 2 pages are acknowledged within 15 minutes.", 3)
    facts = document_facts(CHUNKS + [overlap])
    assert facts["c4"] == []


# ------------------------------------------------------------------------------ question form


@pytest.mark.parametrize("question", ["Packing and shipping", "Write a JSON object with 3 keys: instruction, input",
                                      "Roasting?", "What is?", "The roaster charges the drum at 200 degrees."])
def test_question_schema_rejects_headings_and_prompt_echoes(question):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"question": question}, question_schema())


@pytest.mark.parametrize("question", ["How quickly must a severity 1 page be acknowledged?",
                                      "List the roles of an incident response."])
def test_question_schema_accepts_questions_and_tasks(question):
    jsonschema.validate({"question": question}, question_schema())


def test_the_question_form_reaches_the_decoding_grammar():
    template = load_template("instruction_pair", "extractive")
    pattern = template.decoding_schema["properties"]["question"]["pattern"]
    assert "minLength" not in json.dumps(template.decoding_schema)  # llama.cpp expands length bounds per character
    duration = template.for_fact_kind("duration").decoding_schema["properties"]["question"]["pattern"]
    assert re.match(duration, "How long does a written review take?") and not re.match(duration, "Who writes it?")
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    grammar = llama_grammar.json_schema_to_gbnf(json.dumps(template.decoding_schema))
    assert '"Wha" "t"' in grammar and '"Ho" "w"' in grammar and pattern.startswith("^(")  # the pattern became rules


def test_extractive_parse_assembles_the_record_around_the_fact():
    template = load_template("instruction_pair", "extractive")
    target = plan_targets(CHUNKS, template.version, 1, kinds=("base",), need="fact")[0]
    fields, error = cand._parse_candidate('{"question": "How quickly does the on-call engineer acknowledge a page?"}',
                                          None, template, target)
    assert error is None and fields == {"instruction": "How quickly does the on-call engineer acknowledge a page?",
                                        "input": "", "output": target.fact.text}
    _fields, error = cand._parse_candidate('{"question": "Response times"}', None, template, target)
    assert error.startswith("schema violation")


# ------------------------------------------------------------------------------ MCQ and focus


def test_mcq_distractors_are_other_values_of_the_same_kind_from_the_document():
    facts = [f for c in CHUNKS for f in chunk_facts(c)]
    five = next(f for f in facts if f.span == "5 minutes")
    pool = value_pool(facts)
    wrong = distractors(five, pool)
    assert len(wrong) == 3 and "5 minutes" not in wrong
    assert all(re.search(r"minutes|days", w) for w in wrong)  # durations only, never "15 kg"
    options, key = mcq_options(five, pool, "seed")
    assert options[key] == "5 minutes" and sorted(options) == ["A", "B", "C", "D"]
    assert len(set(options.values())) == 4
    heat = next(f for f in facts if f.span == "200 degrees Celsius")
    assert mcq_options(heat, pool, "seed") is None  # no other temperature in the document: no fair MCQ
    plan = document_plan(CHUNKS, "v1", kinds=("base",), need=fact_need("extractive", "mcq"))
    assert plan and all(t.key and dict(t.options)[t.key] == t.fact.span for t in plan)
    abstractive = document_plan(CHUNKS, "v1", kinds=("base",), need=fact_need("abstractive", "mcq"))
    assert abstractive and not any(t.options or t.key for t in abstractive)  # the model writes its own options


def test_extractive_mcq_record_keys_the_fact():
    template = load_template("mcq", "extractive")
    target = document_plan(CHUNKS, template.version, kinds=("base",), need="options")[0]
    fields, error = cand._parse_candidate('{"question": "How soon is a severity 1 page acknowledged?"}', None,
                                          template, target)
    assert error is None and fields["options"][fields["answer"]] == target.fact.span
    assert fields["explanation"] == target.fact.text


def test_fact_focus_prefers_questions_that_lead_to_the_fact():
    fact = "The on-call engineer acknowledges a severity 1 page within 5 minutes."
    good = fact_focus("How quickly does the on-call engineer acknowledge a severity 1 page?", fact, "5 minutes", fact)[0]
    assert good >= MIN_FACT_FOCUS
    assert fact_focus("What is the answer to this JSON?", fact, "5 minutes", fact)[0] < MIN_FACT_FOCUS
    assert fact_focus("Is a severity 1 page acknowledged within 5 minutes?", fact, "5 minutes", fact)[0] == 0.0


def test_fact_focus_rejects_questions_a_reader_would_not_accept():
    sack = "Green coffee arrives in 60 kg jute sacks. Each sack is weighed on arrival."
    rests = "Roasted coffee rests for 24 hours before it is packed."
    assert fact_focus("How much does a single sack of green coffee weigh?", sack.split(". ")[0] + ".", "60 kg", sack)[1] is None
    cases = {  # question, fact, span, passage -> the reason it fails
        ("How long does it take to pack a bag of roasted coffee using a microwave?", rests, "24 hours", rests): "invents",
        ("Where does the Northwind roastery in Leeds ship coffee?", "The Northwind roastery in Leeds ships coffee.",
         "Leeds", "The Northwind roastery in Leeds ships coffee."): "states its answer",
        ("Why is the sentence in the passage about the roast?", rests, "24 hours", rests): "about the prompt",
        ("What is the response time of the incident commander?", "The incident commander coordinates the response.",
         None, "The incident commander coordinates the response."): "figure its fact does not give",
        ("What is the severity of the commander's response?", "The incident commander coordinates the response.",
         None, "A severity 1 incident is an outage. The incident commander coordinates the response."): "asks for a severity",
        ("Which module returns the local time zone name under Unix and Windows?",
         "This module returns the local time zone name under Unix and Windows.", None,
         "This module returns the local time zone name under Unix and Windows."): "restates its answer",
        ("How long does a severity 1 page wait within 1 minute?", "A severity 1 page is acknowledged within 5 minutes.",
         "5 minutes", "A severity 1 page is acknowledged within 5 minutes."): "figures its fact does not",
    }
    for (question, fact, span, passage), why in cases.items():
        score, reason = fact_focus(question, fact, span, passage)
        assert score == 0.0 and why in reason, (question, reason)


# ------------------------------------------------------------------------------ batched generation


class BatchLLM:
    """Answers a question per seed; records how it was asked (a fake for mbdg's own plumbing)."""

    backend, model = "fake", "fake"

    def __init__(self, questions: list[str]):
        self.questions, self.batches, self.singles = questions, [], 0

    def generate(self, messages, *, json_schema=None, temperature=0.7, seed=0, max_tokens=512):
        self.singles += 1
        return Generation(text=json.dumps({"answer": f"Maybe {seed}."}), raw="", error=None, completion_tokens=3)

    def generate_batch(self, messages, *, seeds, json_schema=None, temperature=0.7, max_tokens=512):
        self.batches.append(len(seeds))
        if "answer" in (json_schema or {}).get("properties", {}):  # a preference answer: a vague, unsupported one
            return [Generation(text=json.dumps({"answer": f"Maybe {s}."}), raw="", error=None) for s in seeds]
        return [Generation(text=json.dumps({"question": self.questions[s % len(self.questions)]}), raw="", error=None,
                           completion_tokens=9) for s in seeds]


def test_k_candidates_of_a_target_are_one_batch_and_the_off_fact_question_never_wins():
    template = load_template("instruction_pair", "extractive")
    targets = plan_targets(CHUNKS, template.version, 1, kinds=("base",), need="fact")
    llm = BatchLLM(["When is the answer to this JSON question given?",
                    "How quickly does the on-call engineer acknowledge a severity 1 page?"])
    params = cand.GenerationParams(k=4, answer_mode="extractive")
    out = cand.generate_planned(llm, template, targets, params, "Policy")
    assert llm.batches == [4] and llm.singles == 0
    winner = next(c for c in out if c.is_winner)
    assert "on-call engineer" in winner.fields["instruction"]
    assert winner.generation["fact_id"] == targets[0].fact.fact_id and winner.generation["answer_mode"] == "extractive"
    only_bad = BatchLLM(["When is the answer to this JSON question given?"])
    assert not any(c.is_winner for c in cand.generate_planned(only_bad, template, targets, params, "Policy"))


def test_extractive_preference_chooses_the_fact_over_a_worse_model_answer():
    template = load_template("preference", "extractive")
    targets = plan_targets(CHUNKS, template.version, 1, kinds=("base",), need="fact")
    llm = BatchLLM(["How quickly does the on-call engineer acknowledge a severity 1 page?"])
    out = cand.generate_planned(llm, template, targets, cand.GenerationParams(k=2, answer_mode="extractive"), "Policy")
    record = next(c for c in out if c.is_winner)
    assert record.fields["chosen"] == targets[0].fact.text and record.fields["rejected"].startswith("Maybe")
    assert record.generation["reward_gap"] >= 0.05


def test_answer_mode_defaults_per_backend():
    assert resolve_answer_mode("auto", "embedded", "mcq") == "extractive"
    assert resolve_answer_mode("auto", "ollama", "mcq") == "abstractive"
    assert resolve_answer_mode("extractive", "embedded", "/my/schema.json") == "abstractive"


# ------------------------------------------------------------------------------ summary, coverage


def _summary(approved: int, rejected: int, **extra):
    base = dict(documents=2, failures={}, chunks=7, candidates=64, failed_candidates=0, tokens=35121, seconds=100.0,
                decisions={"AUTO_APPROVE": approved, "AUTO_REJECT": rejected}, new_calls=64, decode_tokens=1000,
                decode_seconds=50.0, coverage={}, rejections=[("grounding: the answer is not supported", 9)], goal=None)
    return SimpleNamespace(**(base | extra))


def test_summary_gives_no_per_approved_figure_when_nothing_was_approved():
    from mbdg_assets.cli.main import summary_lines

    text = "\n".join(summary_lines(_summary(0, 16)))
    assert "per approved record" not in text
    assert "9 x grounding: the answer is not supported" in text and "--backend ollama" in text
    assert "20.0 tokens/s" in text
    good = "\n".join(summary_lines(_summary(8, 2)))
    assert "4390 per approved record" in good and "What would help" not in good


def test_coverage_counts_facts_and_topics_of_approved_records(tmp_path):
    from mbdg_assets.export.coverage import corpus_coverage, coverage_line
    from mbdg_assets.storage import warehouse

    with warehouse.connect(tmp_path / "w.duckdb") as con:
        for c in CHUNKS:
            con.execute("INSERT INTO chunks (chunk_id, doc_id, path, position, text, heading_path, key_phrases, entities, "
                        "entity_types, topic_id, topic_label) VALUES (?, 'd', 'p.md', ?, ?, ?, ?, ?, ?, ?, ?)",
                        [c["chunk_id"], c["position"], c["text"], c["heading_path"], c["key_phrases"], [], [],
                         c["topic_id"], c["topic_label"]])
        fact = document_facts(CHUNKS)["c1"][0]
        con.execute("INSERT INTO records (record_id, chunk_ids, decision, generation_json) VALUES "
                    "('r1', ['c1'], 'AUTO_APPROVE', ?), ('r2', ['c3'], 'AUTO_REJECT', '{}')",
                    [json.dumps({"fact_id": fact.fact_id})])
        cov = corpus_coverage(con)
    total = sum(len(f) for f in document_facts(CHUNKS).values())
    assert cov["facts"] == total and cov["facts_covered"] == 1
    assert (cov["topics"], cov["topics_covered"]) == (3, 1)
    assert cov["uncovered_topics"][0]["topic"] == "topic 2"  # roasting: more facts than the review chunk
    assert f"1 of {total} facts" in coverage_line(cov)
