from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT
from mbdg_assets.validate.grounding import lexical_grounding
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.validate.decisions import STAGES
from mbdg_assets.validate.validator import validate_candidates

SCHEMA = load_template("instruction_pair").json_schema
CHUNK_A = {"chunk_id": "c-a", "doc_id": "d-a", "path": "policy.md", "topic": "Response times",
           "text": "The on-call engineer acknowledges a severity 1 page within 5 minutes. "
                   "An incident channel is opened within 15 minutes."}
CHUNK_B = {"chunk_id": "c-b", "doc_id": "d-b", "path": "roastery.md", "topic": "Roasting",
           "text": "A standard batch is 12 kg of green coffee. It loses about 15 percent of its weight during roasting."}


def _candidate(cid: str, chunk: dict, instruction: str, output: str, reward: float = 0.9) -> dict:
    return {"candidate_id": cid, "fields": {"instruction": instruction, "input": "", "output": output},
            "reward": reward, "generation": {"backend": "test"}, "chunk": chunk}


def test_grounding_separates_supported_from_altered_answers():
    source = CHUNK_A["text"]
    supported = lexical_grounding("A severity 1 page is acknowledged within 5 minutes.", source)
    number_changed = lexical_grounding("A severity 1 page is acknowledged within 50 minutes.", source)
    other_document = lexical_grounding("A batch of green coffee loses 15 percent of its weight.", source)
    assert supported.score >= 0.9 and supported.missing_numbers == []
    assert number_changed.missing_numbers == ["50"] and number_changed.score <= 0.5
    assert other_document.score < 0.5
    start, end = supported.spans[0]
    assert "5 minutes" in source[start:end]


def test_good_record_is_approved_with_all_five_stage_scores():
    [record] = validate_candidates(
        [_candidate("1", CHUNK_A, "How fast must a severity 1 page be acknowledged?",
                    "The on-call engineer acknowledges a severity 1 page within 5 minutes.")], "instruction_pair", SCHEMA)
    assert set(record.stage_scores) == set(STAGES)
    assert record.decision == AUTO_APPROVE, record.reasons
    assert record.supporting_spans and record.supporting_spans[0]["chunk_id"] == "c-a"


def test_ungrounded_answer_is_rejected_whatever_its_other_scores():
    [record] = validate_candidates(
        [_candidate("1", CHUNK_A, "How fast must a severity 1 page be acknowledged?",
                    "Pages are answered by the vice president of marketing within two business days.")], "instruction_pair", SCHEMA)
    assert record.decision == AUTO_REJECT
    assert any(r.startswith("grounding:") for r in record.reasons)


def test_exact_duplicate_keeps_the_better_scored_member():
    question, answer = "How heavy is a standard batch?", "A standard batch is 12 kg of green coffee."
    records = validate_candidates(
        [_candidate("low", CHUNK_B, question, answer, reward=0.80),
         _candidate("high", CHUNK_B, question.upper(), answer + "  ", reward=0.95)], "instruction_pair", SCHEMA)
    by_candidate = {r.candidate_id: r for r in records}
    assert by_candidate["high"].decision == AUTO_APPROVE
    assert by_candidate["low"].decision == AUTO_REJECT
    assert by_candidate["low"].duplicate_of == by_candidate["high"].record_id
    assert by_candidate["low"].stage_scores["dedup"] == 0.0


def test_schema_breach_is_rejected():
    bad = _candidate("1", CHUNK_B, "Short?", "A standard batch is 12 kg of green coffee.")
    [record] = validate_candidates([bad], "instruction_pair", SCHEMA)
    assert record.stage_scores["schema"] == 0.0
    assert record.decision == AUTO_REJECT


def test_overrepresented_source_scores_lower_on_distribution():
    many = [_candidate(str(i), CHUNK_B, f"Question number {i} about coffee batches and weight?",
                       "A standard batch is 12 kg of green coffee.") for i in range(8)]
    few = [_candidate("x", CHUNK_A, "How fast must a severity 1 page be acknowledged?",
                      "The on-call engineer acknowledges a severity 1 page within 5 minutes.")]
    records = validate_candidates(many + few, "instruction_pair", SCHEMA)
    balanced = validate_candidates(many[:1] + few, "instruction_pair", SCHEMA)
    skewed_score = next(r for r in records if r.paths == ["roastery.md"]).stage_scores["distribution"]
    assert skewed_score < 1.0
    assert all(r.stage_scores["distribution"] == 1.0 for r in balanced)


def test_a_heading_copied_into_the_instruction_is_rejected_with_a_clear_reason():
    chunk = CHUNK_B | {"heading_path": ["Roastery handbook", "3.2 Batch size"]}
    answer = "A standard batch is 12 kg of green coffee."
    records = validate_candidates([_candidate("heading", chunk, "3.2 Batch size", answer),
                                   _candidate("bare", CHUNK_B, "Installation", answer + " "),
                                   _candidate("question", chunk, "How heavy is a standard batch?", answer + "  ", reward=0.95)],
                                  "instruction_pair", SCHEMA)
    by_candidate = {r.candidate_id: r for r in records}
    assert by_candidate["question"].decision == AUTO_APPROVE, by_candidate["question"].reasons
    for cid, why in (("heading", "copy of the section heading"), ("bare", "not a question or task")):
        record = by_candidate[cid]
        assert record.decision == AUTO_REJECT and record.stage_scores["schema"] == 0.0
        assert any(r.startswith("schema: ") and why in r for r in record.reasons), record.reasons


def test_grounded_part_is_the_templates_answer_for_every_schema():
    """One view of 'the answer' (PromptTemplate.answer_of) for rewards and the validator: an MCQ's
    keyed option and explanation, a chat's assistant turns, a preference pair's chosen answer."""
    mcq = {"question": "How heavy is a standard batch of green coffee?",
           "options": {"A": "12 kg", "B": "20 kg", "C": "5 kg", "D": "50 kg"}, "answer": "B",
           "explanation": "The handbook gives the batch weight."}
    [wrong_key] = validate_candidates([_candidate("m", CHUNK_B, "", "") | {"fields": mcq}], "mcq", load_template("mcq").json_schema)
    assert any("20 kg" in r for r in wrong_key.reasons) and wrong_key.decision == AUTO_REJECT
    chat = {"messages": [{"role": "user", "content": "How heavy is a standard batch?"},
                         {"role": "assistant", "content": "A standard batch is 12 kg of green coffee."}]}
    [good_chat] = validate_candidates([_candidate("c", CHUNK_B, "", "") | {"fields": chat}], "chat", load_template("chat").json_schema)
    assert good_chat.stage_scores["grounding"] >= 0.9
