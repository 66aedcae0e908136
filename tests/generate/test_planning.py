"""Target planning: coverage order, prefix stability, multi-hop partners, evolved targets, and the
spread of a target budget over documents."""

import numpy as np

from fake_llm_servers import fake_llm_server, instruction_pair_responder  # noqa: F401
from mbdg_assets.generate.candidates import GenerationParams, generate_for_chunks
from mbdg_assets.llm.backends import OpenAICompatibleLLM
from mbdg_assets.generate.planning import (allocate_targets, coverage_order, document_plan, pass_sizes, plan_targets,
                                       related_partners)
from mbdg_assets.llm.prompts import load_template

TEMPLATE = load_template("instruction_pair")


def _chunk(i: int, topic: int, text: str | None = None) -> dict:
    return {"chunk_id": f"c{i}", "position": i, "topic_id": topic, "heading_path": [f"Section {i}"],
            "text": text or f"Paragraph {i} states that rule number {i} applies to every shipment above {i * 10} kg of goods."}


def test_every_topic_is_reached_before_any_topic_gets_a_second_chunk():
    chunks = [_chunk(i, t) for i, t in enumerate([0, 0, 0, 0, 1, 1, 2])]
    order = coverage_order(chunks)
    assert sorted(c["chunk_id"] for c in order) == sorted(c["chunk_id"] for c in chunks)
    assert {c["topic_id"] for c in order[:3]} == {0, 1, 2}
    assert {c["topic_id"] for c in order[3:5]} == {0, 1}


def test_inside_a_topic_the_first_targets_spread_over_the_document():
    order = coverage_order([_chunk(i, 0) for i in range(8)])
    assert [c["position"] for c in order[:4]] == [0, 4, 2, 6]


def test_the_plan_only_grows_at_the_end_and_reuses_a_chunk_only_after_all_are_reached():
    chunks = [_chunk(i, i % 2) for i in range(5)] + [_chunk(9, 0, "Too short.")]
    small, large = plan_targets(chunks, "v1", 3), plan_targets(chunks, "v1", 100)
    assert [t.target_id for t in small] == [t.target_id for t in large[:3]]
    assert [t.kind for t in large] == ["base"] * 5 + ["deepen"] * 5 + ["broaden"] * 5  # no vectors: no multi-hop
    assert len({t.chunk["chunk_id"] for t in large[:5]}) == 5 and "c9" not in {t.chunk["chunk_id"] for t in large}
    assert {t.parent_id for t in large[5:]} == {t.target_id for t in large[:5]}
    assert plan_targets(chunks, "v1", 0) == []


def test_multi_hop_partner_is_related_but_neither_adjacent_nor_a_copy():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 16)).astype(np.float32)
    vectors = {"c0": base[0], "c1": base[0] + 0.01,            # adjacent near copy of c0
               "c2": base[1], "c3": base[0] * 0.6 + base[1] * 0.8,  # c3 relates to c0 and c2
               "c4": base[0] + 0.001}                           # a copy of c0 far away
    chunks = [_chunk(i, 0) for i in range(5)]
    partners = related_partners(chunks, vectors)
    assert partners["c0"]["chunk_id"] == "c3"
    assert partners["c3"]["chunk_id"] in {"c0", "c1"}  # c2 and c4 are its neighbours
    assert all(abs(int(k[1:]) - int(p["chunk_id"][1:])) > 1 for k, p in partners.items())
    plan = document_plan(chunks, "v1", vectors)
    multihop = [t for t in plan if t.kind == "multihop"]
    assert multihop and all(t.partner is not None and len(t.chunk_ids) == 2 for t in multihop)
    assert pass_sizes(plan)[0] == 5 and pass_sizes(plan)[1] == len(multihop)


def test_budget_goes_to_unreached_chunks_of_any_document_before_reuse():
    sizes = {"a.md": [2, 0, 2, 2], "b.md": [10, 0, 10, 10]}
    budget = allocate_targets(12, {}, sizes)
    assert budget == {"a.md": 2, "b.md": 10}
    assert sum(allocate_targets(13, {}, sizes).values()) == 13
    grown = allocate_targets(4, budget, sizes)  # more later: the next pass, in proportion to its size
    assert grown == {"a.md": 3, "b.md": 13}
    assert allocate_targets(1000, {}, sizes) == {"a.md": 6, "b.md": 30}  # nothing beyond the plans


def test_evolved_targets_grow_from_the_base_winner(fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder()
    chunk = _chunk(0, 0)
    params = GenerationParams(k=2, max_targets_per_document=3, kinds=("base", "deepen", "broaden"))
    candidates = generate_for_chunks(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), TEMPLATE, [chunk], params, "T")
    base_winner = next(c for c in candidates if c.is_winner and c.generation["target_kind"] == "base")
    evolved = [c for c in candidates if c.generation["target_kind"] in ("deepen", "broaden")]
    assert len(evolved) == 4 and all(c.generation["parent_target_id"] == base_winner.target_id for c in evolved)
    prompts = [r.body["messages"][-1]["content"] for r in fake_llm_server.requests[2:]]
    assert all(base_winner.fields["instruction"] in p for p in prompts)
    assert sum("goes deeper" in p for p in prompts) == 2 and sum("different aspect" in p for p in prompts) == 2


def test_multi_hop_prompt_shows_both_parts_and_the_reward_sees_both(fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder()
    chunks = [_chunk(0, 0), _chunk(1, 1), _chunk(2, 0)]
    vectors = {"c0": np.array([1, 0, 0], np.float32), "c1": np.array([0, 1, 0], np.float32),
               "c2": np.array([0.8, 0.1, 0.6], np.float32)}
    params = GenerationParams(k=1, max_targets_per_document=5, kinds=("base", "multihop"))
    candidates = generate_for_chunks(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), TEMPLATE, chunks, params,
                                     "T", vectors=vectors)
    hops = [c for c in candidates if c.generation["target_kind"] == "multihop"]
    assert {(c.chunk_id, c.generation["partner_chunk_id"]) for c in hops} == {("c0", "c2"), ("c2", "c0")}
    prompt = next(r.body["messages"][-1]["content"] for r in fake_llm_server.requests if "Part 2" in r.body["messages"][-1]["content"])
    assert "Paragraph 0" in prompt and "Paragraph 2" in prompt and "combining a fact from Part 1" in prompt


def test_a_multi_hop_record_is_grounded_in_both_chunks_and_cites_both():
    from mbdg_assets.validate.validator import validate_candidates

    a = {"chunk_id": "a", "doc_id": "d", "path": "p.md", "topic": "t", "heading_path": ["Roasting"],
         "text": "A standard batch is 12 kg of green coffee. First crack comes between minute 8 and minute 10."}
    b = {"chunk_id": "b", "doc_id": "d", "path": "p.md", "topic": "t", "heading_path": ["Storage"],
         "text": "Roasted coffee rests for 24 hours in the degassing room before it is packed."}
    fields = {"instruction": "How heavy is a standard batch, and how long does it rest after roasting?", "input": "",
              "output": "A standard batch is 12 kg of green coffee. Roasted coffee rests for 24 hours before it is packed."}
    winner = {"candidate_id": "x", "fields": fields, "reward": 0.9, "generation": {"partner_chunk_id": "b"}, "chunk": a}
    schema = TEMPLATE.json_schema
    [alone] = validate_candidates([winner], "instruction_pair", schema)
    [both] = validate_candidates([winner | {"partner": b}], "instruction_pair", schema)
    assert both.chunk_ids == ["a", "b"] and both.paths == ["p.md"]
    assert both.stage_scores["grounding"] > alone.stage_scores["grounding"]
    assert {s["chunk_id"] for s in both.supporting_spans} == {"a", "b"}
    span_b = next(s for s in both.supporting_spans if s["chunk_id"] == "b")
    assert "24 hours" in b["text"][span_b["start"]:span_b["end"]]
