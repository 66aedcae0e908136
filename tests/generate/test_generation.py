"""Generation against a local server speaking the Ollama and OpenAI wire formats: concurrency,
repair of malformed answers, failures recorded (never raised), winner selection, caching."""

from pathlib import Path

import pytest

from fake_llm_servers import Scripted, closed_port_url, fake_llm_server, instruction_pair_responder  # noqa: F401
from mbdg_assets.storage import warehouse
from mbdg_assets.generate.candidates import GenerationParams, generate_for_chunks
from mbdg_assets.llm.backends import OllamaLLM, OpenAICompatibleLLM
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.prompts import load_template

TEMPLATE = load_template("instruction_pair")
CHUNKS = [
    {"chunk_id": f"c{i}", "heading_path": ["Policy"], "text": text}
    for i, text in enumerate([
        "The on-call engineer acknowledges a severity 1 page within 5 minutes. An incident channel is opened "
        "within 15 minutes. The communications lead posts an update every 30 minutes.",
        "A written review is due within 5 working days of every severity 1 incident. The review lists the "
        "timeline, the root cause, and at most five follow-up actions.",
        "A standard batch is 12 kg of green coffee. It loses about 15 percent of its weight during roasting. "
        "First crack is expected between minute 8 and minute 10.",
    ])
]
GOOD = '{"instruction": "How fast is a severity 1 page acknowledged?", "input": "", "output": "Within 5 minutes."}'


def _params(**overrides) -> GenerationParams:
    return GenerationParams(**({"k": 4, "max_targets_per_document": 3, "concurrency": 1, "kinds": ("base",)} | overrides))


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_k_candidates_per_target_and_one_winner_each(fake_llm_server, backend):
    fake_llm_server.responder = instruction_pair_responder()
    llm = OllamaLLM("m", host=fake_llm_server.url) if backend == "ollama" else OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    candidates = generate_for_chunks(llm, TEMPLATE, CHUNKS, _params(), "Policy")
    assert len(candidates) == 3 * 4 and len(fake_llm_server.requests) == 12
    winners = [c for c in candidates if c.is_winner]
    assert len(winners) == 3 and {w.chunk_id for w in winners} == {"c0", "c1", "c2"}
    for winner in winners:
        siblings = [c for c in candidates if c.target_id == winner.target_id]
        assert winner.reward == max(c.reward for c in siblings)
        assert winner.generation["candidate_rank"] == winner.rank
        assert winner.generation["sibling_rewards"] == [c.reward for c in sorted(siblings, key=lambda c: c.rank)]
    seeds = sorted(r.body.get("seed", (r.body.get("options") or {}).get("seed")) for r in fake_llm_server.requests)
    assert seeds == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_requests_run_concurrently_for_server_backends(fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder(delay=0.2)
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    generate_for_chunks(llm, TEMPLATE, CHUNKS, _params(concurrency=8), "Policy")
    assert fake_llm_server.max_in_flight >= 6  # 12 calls, 8 allowed at once


def test_malformed_answer_is_repaired_once_then_recorded_as_failed(fake_llm_server):
    fake_llm_server.script(Scripted(content='Sure! {"instruction": "Broken'), Scripted(content=GOOD))
    fake_llm_server.script(*[Scripted(content=GOOD)] * 3)  # ranks 1-3 of the target
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    candidates = generate_for_chunks(llm, TEMPLATE, CHUNKS[:1], _params(max_targets_per_document=1), "Policy")
    repaired = next(c for c in candidates if c.rank == 0)
    assert repaired.fields is not None and repaired.generation["repairs"] == 1
    repair_request = fake_llm_server.requests[-1].body["messages"]
    assert repair_request[-2] == {"role": "assistant", "content": 'Sure! {"instruction": "Broken'}
    assert "not usable" in repair_request[-1]["content"]


def test_unrepairable_answer_and_server_error_become_failed_candidates(fake_llm_server):
    fake_llm_server.script(Scripted(content="not json"), Scripted(status=500, error_body="boom"),
                           Scripted(content=GOOD), Scripted(content=GOOD), Scripted(content="still not json"))
    llm = OllamaLLM("m", host=fake_llm_server.url)
    candidates = generate_for_chunks(llm, TEMPLATE, CHUNKS[:1], _params(max_targets_per_document=1), "Policy")
    by_rank = {c.rank: c for c in candidates}
    assert by_rank[0].fields is None and by_rank[0].raw == "still not json" and "malformed" in by_rank[0].error
    assert by_rank[1].fields is None and "500" in by_rank[1].error and by_rank[1].generation["repairs"] == 0
    assert [c.is_winner for c in candidates].count(True) == 1
    assert len(fake_llm_server.requests) == 5  # 4 first calls + 1 repair; the 500 is not retried


def test_cached_calls_are_not_sent_again(fake_llm_server, tmp_path: Path):
    fake_llm_server.responder = instruction_pair_responder()
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        first = generate_for_chunks(CachedLLM(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), con),
                                    TEMPLATE, CHUNKS, _params(concurrency=4), "Policy")
        sent = len(fake_llm_server.requests)
        cached = CachedLLM(OpenAICompatibleLLM("m", fake_llm_server.openai_base_url), con)
        second = generate_for_chunks(cached, TEMPLATE, CHUNKS, _params(concurrency=4), "Policy")
    assert len(fake_llm_server.requests) == sent == 12
    assert (cached.hits, cached.misses) == (12, 0)
    assert [c.fields for c in first] == [c.fields for c in second]


def test_llm_judge_grades_enter_the_overall_and_the_field_rewards(fake_llm_server):
    answer = instruction_pair_responder()

    def respond(body):
        if "Grade from 1 to 5" in body["messages"][-1]["content"]:
            seed = body.get("seed", 0)
            grade = 5 if seed == 2 else 1
            return Scripted(content='{"question": %d, "answer": 3, "score": %d, "reason": "graded"}' % (grade, grade))
        return answer(body)

    fake_llm_server.responder = respond
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    candidates = generate_for_chunks(llm, TEMPLATE, CHUNKS[:1], _params(judge=True, max_targets_per_document=1), "Policy")
    judge_requests = [r for r in fake_llm_server.requests if "Grade from 1 to 5" in r.body["messages"][-1]["content"]]
    assert len(judge_requests) == 4 and all(r.body["temperature"] == 0.0 for r in judge_requests)
    grades = {c.rank: c.detail["overall"]["llm_judge"] for c in candidates}
    assert grades == {0: 0.0, 1: 0.0, 2: 1.0, 3: 0.0}
    fields = {c.rank: c.detail["field"] for c in candidates}  # per field role: question, answer
    assert [fields[r]["instruction"]["llm_judge"] for r in range(4)] == [0.0, 0.0, 1.0, 0.0]
    assert all(fields[r]["output"]["llm_judge"] == 0.5 for r in range(4)) and "llm_judge" not in fields[0]["input"]
    assert candidates[2].reward_field > candidates[0].reward_field
    assert '"instruction"' in judge_requests[0].body["messages"][-1]["content"]  # the record is shown to the judge


def test_without_judge_no_grading_calls_are_made(fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder()
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    candidates = generate_for_chunks(llm, TEMPLATE, CHUNKS[:1], _params(max_targets_per_document=1), "Policy")
    assert len(fake_llm_server.requests) == 4
    assert all("llm_judge" not in c.detail["overall"] for c in candidates)


def _preference_responder():
    question = instruction_pair_responder()

    def respond(body):
        prompt = body["messages"][-1]["content"]
        if "Question:" not in prompt:
            return question(body)
        passage = prompt.split('"""')[1].strip()
        seed = body.get("seed", 0)
        answer = passage.split(". ")[0] + "." if seed % 2 == 0 else "Managers decide this case by case at their discretion."
        return Scripted(content='{"answer": "%s"}' % answer)

    return respond


def test_preference_pairs_share_one_prompt_and_record_the_gap(fake_llm_server):
    fake_llm_server.responder = _preference_responder()
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    template = load_template("preference")
    candidates = generate_for_chunks(llm, template, CHUNKS[:2], _params(max_targets_per_document=2), "Policy")  # one fact of each chunk
    records = [c for c in candidates if c.is_winner]
    assert len(records) == 2
    assert len(fake_llm_server.requests) == 2 * 4 * 2  # K questions, then K answers, per target
    for record in records:
        assert set(record.fields) == {"prompt", "chosen", "rejected"}
        assert record.fields["prompt"].startswith("What does the document say about")
        assert "discretion" in record.fields["rejected"] and "discretion" not in record.fields["chosen"]
        assert record.generation["reward_gap"] >= 0.05
        assert record.generation["reward"] - record.generation["reward_rejected"] == pytest.approx(record.generation["reward_gap"], abs=1e-4)
    answer_prompts = [r.body["messages"][-1]["content"] for r in fake_llm_server.requests if "Question:" in r.body["messages"][-1]["content"]]
    assert len({p.split("Question:")[1] for p in answer_prompts}) == 2  # one shared question per target


def test_preference_pairs_below_the_minimum_gap_are_dropped(fake_llm_server):
    fake_llm_server.responder = _preference_responder()
    llm = OpenAICompatibleLLM("m", fake_llm_server.openai_base_url)
    candidates = generate_for_chunks(llm, load_template("preference"), CHUNKS[:1], _params(min_preference_gap=1.01, max_targets_per_document=1), "Policy")
    assert not any(c.is_winner for c in candidates)
    assert any("below 1.01" in c.generation.get("dropped", "") for c in candidates)


def test_a_re_pulled_ollama_model_is_not_answered_from_the_old_weights_cache(fake_llm_server, tmp_path: Path):
    fake_llm_server.responder = instruction_pair_responder()
    fake_llm_server.models = [{"model": "m:latest", "digest": "sha256:aaa"}]
    messages = [{"role": "user", "content": "Passage: the batch is 12 kg."}]
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        first = CachedLLM(OllamaLLM("m", host=fake_llm_server.url), con)
        assert first.model_digest == "sha256:aaa"
        first.generate(messages)
        CachedLLM(OllamaLLM("m", host=fake_llm_server.url), con).generate(messages)
        assert len(fake_llm_server.requests) == 1  # same weights: a cache hit
        fake_llm_server.models = [{"model": "m:latest", "digest": "sha256:bbb"}]
        repulled = CachedLLM(OllamaLLM("m", host=fake_llm_server.url), con)
        repulled.generate(messages)
        assert len(fake_llm_server.requests) == 2 and repulled.misses == 1
    assert OllamaLLM("m", host=closed_port_url()).model_digest is None  # nobody listening: no digest, no crash
