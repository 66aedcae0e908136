from pathlib import Path

import pytest

from fake_llm_servers import Scripted, fake_llm_server, instruction_pair_responder  # noqa: F401
from mbdg_assets.generate.personas import DEFAULT_PERSONAS, variant_for
from mbdg_assets.shared.seed_examples import load_seed_examples
from mbdg_assets.generate.candidates import GenerationParams, generate_for_chunks
from mbdg_assets.llm.backends import OpenAICompatibleLLM
from mbdg_assets.llm.prompts import load_template

CHUNK = {"chunk_id": "c0", "heading_path": ["Roasting"],
         "text": "A standard batch is 12 kg of green coffee. It loses about 15 percent of its weight during roasting."}
TEMPLATE = load_template("instruction_pair")


def test_k_candidates_get_different_personas_and_a_stable_rotation():
    variants = [variant_for("a3f00000", rank) for rank in range(4)]
    assert len({v.persona for v in variants}) == 4 and {v.persona for v in variants} == set(DEFAULT_PERSONAS)
    assert len({v.difficulty for v in variants}) == 3
    assert variants == [variant_for("a3f00000", rank) for rank in range(4)]  # same target, same asks: cache hits


def test_prompts_carry_persona_difficulty_and_seed_examples(fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder()
    examples = ({"instruction": "What temperature is the storage room kept at?", "input": "", "output": "15 to 20 degrees."},)
    params = GenerationParams(k=4, seed_examples=examples)
    candidates = generate_for_chunks(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), TEMPLATE, [CHUNK], params, "H")
    prompts = [r.body["messages"][-1]["content"] for r in fake_llm_server.requests]
    assert all("storage room" in p and "never copy them" in p for p in prompts)
    assert len({p.split("Write it as ")[1].split(" would ask")[0] for p in prompts}) == 4
    assert {c.generation["persona"] for c in candidates} == set(DEFAULT_PERSONAS)
    assert all(c.generation["difficulty"] in ("easy", "medium", "hard") for c in candidates)


def test_a_candidate_copying_a_seed_example_scores_zero(fake_llm_server):
    example = {"instruction": "How heavy is a standard batch of green coffee?", "input": "",
               "output": "A standard batch is 12 kg of green coffee."}
    fake_llm_server.responder = lambda body: Scripted(content=__import__("json").dumps(example))
    params = GenerationParams(k=2, seed_examples=(example,))
    candidates = generate_for_chunks(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), TEMPLATE, [CHUNK], params, "H")
    assert all(c.reward == 0.0 and c.detail["copied_seed_example"] == 1.0 for c in candidates)


def test_seed_examples_file_errors_name_the_line(tmp_path: Path):
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n\n{broken\n')
    with pytest.raises(ValueError, match=r"seeds.jsonl:3: not valid JSON"):
        load_seed_examples(path)
    path.write_text('{"instruction": "a", "output": "b"}\n')
    assert load_seed_examples(path) == ({"instruction": "a", "output": "b"},)
