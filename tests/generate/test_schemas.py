"""Each output schema: its template loads, its reward checks separate good from broken records,
and (slow) the embedded model produces schema-valid JSON for it."""

import json
from pathlib import Path

import jsonschema
import pytest

from mbdg_assets.generate.candidates import GenerationParams, generate_for_chunks
from mbdg_assets.llm.backends import EmbeddedLLM
from mbdg_assets.llm.prompts import SCHEMAS, load_template
from mbdg_assets.generate.rewards import field_reward

SOURCE = ("A standard batch is 12 kg of green coffee. It loses about 15 percent of its weight during roasting. "
          "First crack is expected between minute 8 and minute 10.")


def test_every_builtin_template_is_versioned_and_has_a_valid_schema():
    for name in SCHEMAS:
        template = load_template(name)
        assert template.version.startswith(f"{name}/v")
        jsonschema.Draft202012Validator.check_schema(template.json_schema)
        assert set(template.answer_fields) <= set(template.fields)
        assert "{passage}" not in template.messages(passage="P", title="T", heading_path=["H"])[1]["content"]


def test_mcq_checks_one_real_correct_option_and_distinct_distractors():
    mcq = load_template("mcq")
    good = {"question": "How heavy is a standard batch of green coffee?",
            "options": {"A": "12 kg", "B": "15 kg", "C": "8 kg", "D": "20 kg"}, "answer": "A",
            "explanation": "A standard batch is 12 kg of green coffee."}
    same_options = good | {"options": {"A": "12 kg", "B": "12 kg", "C": "12 kg", "D": "20 kg"}}
    wrong_key = good | {"answer": "E"}
    good_score, detail = field_reward(good, SOURCE, mcq)
    assert detail["options"]["distinct"] == 1.0 and detail["answer"]["keyed_option_exists"] == 1.0
    assert field_reward(same_options, SOURCE, mcq)[1]["options"]["distinct"] == 0.0
    assert field_reward(wrong_key, SOURCE, mcq)[0] < good_score
    assert mcq.answer_of(good).startswith("12 kg")


def test_chat_checks_turn_order_and_grounds_assistant_turns():
    chat = load_template("chat")
    good = {"messages": [{"role": "user", "content": "How much weight does coffee lose when roasted?"},
                         {"role": "assistant", "content": "It loses about 15 percent of its weight during roasting."}]}
    backwards = {"messages": list(reversed(good["messages"]))}
    invented = {"messages": [good["messages"][0], {"role": "assistant", "content": "Roasters always add 3 kg of sugar."}]}
    score, detail = field_reward(good, SOURCE, chat)
    assert detail["messages"]["alternating"] == 1.0 and score > 0.95
    assert field_reward(backwards, SOURCE, chat)[1]["messages"]["alternating"] == 0.0
    assert field_reward(invented, SOURCE, chat)[0] < 0.5
    assert chat.question_of(good) == good["messages"][0]["content"]


def test_user_json_schema_file_becomes_a_template(tmp_path: Path):
    path = tmp_path / "faq.json"
    path.write_text(json.dumps({"type": "object", "required": ["question", "answer"], "properties": {
        "question": {"type": "string", "description": "a customer's question"},
        "answer": {"type": "string"}, "category": {"type": "string"}}}))
    template = load_template(str(path))
    assert (template.question_field, template.answer_fields) == ("question", ("answer", "category"))
    assert template.version.startswith("custom-faq/v2-")
    prompt = template.messages(passage="P", title="T", heading_path=[])[1]["content"]
    assert '"question" (string, required): a customer\'s question' in prompt
    path.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}))
    with pytest.raises(ValueError, match="string property"):
        load_template.__wrapped__(str(path))


def test_unknown_schema_is_a_clear_error():
    with pytest.raises(ValueError, match="available: instruction_pair, mcq, chat"):
        load_template("essay")


@pytest.mark.slow
@pytest.mark.parametrize("schema", ["instruction_pair", "mcq", "chat"])
def test_embedded_model_writes_schema_valid_json_for_each_schema(schema):
    template = load_template(schema)
    chunk = {"chunk_id": "c", "heading_path": ["Roasting"], "text": SOURCE}
    params = GenerationParams(k=1, max_tokens=200, repair_attempts=1, kinds=("base",), max_targets_per_document=1)
    [candidate] = generate_for_chunks(EmbeddedLLM(), template, [chunk], params, "Handbook")
    if candidate.fields is None:  # a 135M model may fail a schema; that must be recorded, not raised
        assert candidate.error and candidate.raw is not None
    else:
        jsonschema.validate(candidate.fields, template.json_schema)
        assert 0.0 <= candidate.reward <= 1.0
