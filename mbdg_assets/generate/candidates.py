"""Generation: plan targets over chunks, ask the model for K candidates per target, score each
with the hybrid reward and keep the best. Malformed answers become failed candidates that keep
their raw text and the reason; they never stop the run.

Targets are answer-first (generate/facts.py): each aims at a fact. In the extractive answer mode
the model writes only the question (its form fixed by the decoding schema) and the record is
assembled around the fact: the fact is the answer (instruction pair, chat), the keyed option and
explanation (MCQ, distractors from other facts of the same kind), the chosen side of a preference
pair (against a real, worse model answer). A model that can decode several sequences of one
prompt together (the embedded backend's generate_batch) gets the K calls of a target at once."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import jsonschema

from mbdg_assets.generate.personas import COPY_THRESHOLD, copied_example, guidance, pick_examples, variant_for
from mbdg_assets.llm.json_parsing import parse_json_object
from mbdg_assets.llm.backends import Generation
from mbdg_assets.generate.planning import KINDS, MULTIHOP_JOIN, Target, fact_need, plan_targets
from mbdg_assets.llm.prompts import (PromptTemplate, load_answer_template, load_judge_template, load_template, prompt_text,
                      target_kind_guidance)
from mbdg_assets.generate.rewards import FIELD_WEIGHT, MIN_FACT_FOCUS, score_candidate
from mbdg_assets.shared.text import stable_id
from mbdg_assets.generate.question_repairs import repair_question
from mbdg_assets.validate.question_fluency import FLUENCY_WEIGHT, form_faults, form_source, relative_fluency, well_formed
from mbdg_assets.validate.question_match import question_matches


@dataclass(frozen=True)
class GenerationParams:
    k: int = 4
    temperature: float = 0.8
    base_seed: int = 0
    max_tokens: int = 256
    field_weight: float = FIELD_WEIGHT
    max_targets_per_document: int = 8  # a prefix of the document's plan (core.planning): base targets first
    repair_attempts: int = 1   # bounded: one chance to fix a malformed answer, then it is recorded as failed
    min_preference_gap: float = 0.05  # preference pairs closer than this in reward teach a trainer noise
    concurrency: int = 1       # simultaneous requests; >1 pays off only for server backends
    judge: bool = False        # ask the model to grade each candidate's usefulness (K more calls per target)
    vary_style: bool = True    # a different persona and difficulty per candidate
    seed_examples: tuple[dict, ...] = ()  # the user's own records: shown as style anchors, never to be copied
    kinds: tuple[str, ...] = KINDS  # which target kinds the plan may use (core.planning)
    answer_mode: str = "abstractive"  # extractive: the model writes the question, the target's fact is the answer
    # The project's sentence embedding (enrich.embeddings.Embedder.embed): with it, a question must
    # also be answered by its fact among the passage's sentences to win (validate/question_match.py)
    embed: Callable[[list[str]], object] | None = field(default=None, compare=False, repr=False)
    # The model's mean token log-probability of texts (EmbeddedLLM.mean_logprobs): with it, an
    # extractive question's wording is scored (validate/question_fluency.py) and ranks the candidates
    fluency: Callable[[list[str]], list[float]] | None = field(default=None, compare=False, repr=False)


# Candidates per target and targets per document when the user names none. With extractive answers
# (the embedded default) most of a small model's questions fail the match checks, so more choice per
# target and more facts pay; the figures keep the README quickstart near 2 minutes on 2 cores.
DEFAULT_PLAN = {"extractive": (6, 12), "abstractive": (4, 8)}


def plan_defaults(k: int | None, max_targets: int | None, answer_mode: str) -> tuple[int, int]:
    """K and targets per document: the user's, else DEFAULT_PLAN's for the answer mode."""
    default_k, default_targets = DEFAULT_PLAN.get(answer_mode, DEFAULT_PLAN["abstractive"])
    return k or default_k, max_targets or default_targets


@dataclass
class Candidate:
    candidate_id: str
    target_id: str
    chunk_id: str
    rank: int
    raw: str
    fields: dict | None
    error: str | None
    reward_field: float = 0.0
    reward_overall: float = 0.0
    reward: float = 0.0
    detail: dict = field(default_factory=dict)
    generation: dict = field(default_factory=dict)
    is_winner: bool = False


def source_text(target: Target) -> str:
    """What a target's answer must be grounded in: its chunk, or both chunks of a multi-hop target
    joined by MULTIHOP_JOIN (the validator rebuilds the same text from the two chunk rows)."""
    if target.partner is None:
        return target.chunk["text"]
    return target.chunk["text"] + MULTIHOP_JOIN + target.partner["text"]


def _prompt_passage(target: Target) -> tuple[str, tuple[str, ...]]:
    """The passage and section the prompt shows; a multi-hop target shows two labelled parts."""
    if target.partner is None:
        return target.chunk["text"], tuple(target.chunk["heading_path"] or ())
    parts = [(" > ".join(c["heading_path"] or ()) or "-", c["text"]) for c in (target.chunk, target.partner)]
    passage = "\n\n".join(f"Part {i} (section: {heading}):\n{text}" for i, (heading, text) in enumerate(parts, 1))
    return passage, (f"{parts[0][0]} + {parts[1][0]}",)


def _kind_guidance(target: Target, parent_question: str | None) -> str:
    if target.kind == "base":
        return ""
    _version, texts = target_kind_guidance()
    return texts[target.kind].replace("{parent}", (parent_question or "").replace("\n", " ").strip())


def assemble_record(schema_name: str, question: str, target: Target) -> dict:
    """An extractive record: the model's question around the target's fact (lightly cleaned)."""
    fact = target.fact.text
    if schema_name == "mcq":
        return {"question": question, "options": dict(target.options), "answer": target.key, "explanation": fact}
    if schema_name == "chat":
        return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": fact}]}
    return {"instruction": question, "input": "", "output": fact}


def _parse_candidate(text: str | None, error: str | None, template: PromptTemplate,
                     target: Target | None = None) -> tuple[dict | None, str | None]:
    if error:
        return None, error
    fields, parse_error = parse_json_object(text)
    if parse_error:
        return None, f"malformed answer: {parse_error}"
    if template.ask_schema is not None:  # extractive: the model's question, then the assembled record
        if (invalid := _schema_error(fields, template.ask_schema)) is not None:
            return None, f"schema violation: {invalid.message}"
        fields = assemble_record(template.schema_name, fields["question"].strip(), target)
    if (invalid := _schema_error(fields, template.json_schema)) is not None:
        return None, f"schema violation: {invalid.message}"
    return fields, None


def _schema_error(fields: dict, schema: dict):
    """The most relevant violation of `schema` by `fields`, or None."""
    return jsonschema.exceptions.best_match(_schema_validator(json.dumps(schema)).iter_errors(fields))


@functools.lru_cache(maxsize=32)
def _schema_validator(schema_json: str):
    """One validator per schema: jsonschema.validate() re-checks the schema itself on every call,
    which was over half of generation's own CPU time."""
    schema = json.loads(schema_json)
    return jsonschema.validators.validator_for(schema)(schema)


@dataclass(frozen=True, eq=False)  # identity equality: each call is its own dict key
class Call:
    """One request to the model: a target's rank-th candidate, possibly a repair attempt."""

    target: Target
    rank: int
    messages: list[dict[str, str]]
    seed: int
    attempt: int = 0
    style: dict = field(default_factory=dict)  # persona and difficulty asked for


def _target_calls(target: Target, template: PromptTemplate, params: GenerationParams, title: str,
                  parent_question: str | None = None) -> list[Call]:
    """The K first-round calls of one target: each with its persona and difficulty, the target
    kind's instruction (multi-hop, deepen, broaden) and the user's seed examples as anchors."""
    examples = pick_examples(params.seed_examples, target.target_id)
    passage, heading_path = _prompt_passage(target)
    kind_text = _kind_guidance(target, parent_question) or _fact_guidance(target, template)
    extractive = template.ask_schema is not None  # one prompt for all K (decoded together): no persona
    calls = []
    for rank in range(params.k):
        variant = variant_for(target.target_id, rank) if params.vary_style and not extractive else None
        text = "\n".join(t for t in (kind_text, guidance(variant, examples)) if t)
        messages = template.messages(passage=passage, title=title, heading_path=heading_path, guidance=text,
                                     **_fact_values(target))
        style = {"persona": variant.persona, "difficulty": variant.difficulty} if variant else {}
        calls.append(Call(target, rank, messages, params.base_seed + rank, style=style | _target_info(target)))
    return calls


BLANK = "[ANSWER]"


def _fact_values(target: Target) -> dict[str, str]:
    """The extractive prompt's fact placeholders (abstractive templates ignore them). The sentence
    is shown with its key value blanked and the value named apart (answer-aware question writing):
    a small model shown "rests for 24 hours" copies "24 hours" into the question far more often
    than one shown "rests for [ANSWER]" (measured: 19 vs 23 of 143 candidates passed the checks)."""
    if target.fact is None:
        return {}
    fact, span = target.fact.text, target.fact.span
    if not span or span not in fact:
        return {"fact": fact, "answer_hint": ""}
    return {"fact": fact.replace(span, BLANK, 1), "answer_hint": f" ({BLANK} is {span})"}


def _fact_guidance(target: Target, template: PromptTemplate) -> str:
    """Abstractive answer-first: the model is shown the fact to ask about and answers in its own words."""
    if target.fact is None or template.ask_schema is not None:
        return ""
    return f'Ask about this fact from the passage: "{target.fact.text}"'


def _target_info(target: Target) -> dict:
    """What the generation metadata says about the target beyond its chunk."""
    info: dict = {"target_kind": target.kind} | (target.fact.as_metadata() if target.fact is not None else {})
    if target.partner is not None:
        info["partner_chunk_id"] = target.partner["chunk_id"]
    if target.parent_id is not None:
        info["parent_target_id"] = target.parent_id
    if target.kind != "base":
        info["kind_prompt_version"] = target_kind_guidance()[0]
    return info


def _repair_call(call: Call, raw: str, error: str) -> Call:
    """Show the model its own answer and what was wrong with it; same seed, so the repair is
    reproducible and cached like any other call."""
    messages = call.messages + [
        {"role": "assistant", "content": raw[:4000]},
        {"role": "user", "content": f"That answer was not usable ({error}). Reply with the corrected JSON object only."},
    ]
    return Call(call.target, call.rank, messages, call.seed, call.attempt + 1, call.style)


def run_calls(llm, calls: list[Call], template: PromptTemplate, params: GenerationParams,
              on_result: Callable[[Generation], None] | None = None, temperature: float | None = None,
              ) -> dict[Call, Generation]:
    """All calls at once on the run's request pool when `llm` has one (llm.pool: its in-flight
    limit is shared with every other document's calls); a bare backend gets `params.concurrency`
    threads of its own for these calls."""
    temperature = params.temperature if temperature is None else temperature

    def one(call: Call) -> Generation:
        result = llm.generate(call.messages, json_schema=template.decoding_schema, temperature=temperature,
                              seed=call.seed, max_tokens=params.max_tokens)
        if on_result:
            on_result(result)
        return result

    if getattr(llm, "pooled", False):
        futures = [llm.submit(one, call) for call in calls]
        return {call: future.result() for call, future in zip(calls, futures)}
    if params.concurrency <= 1:
        return {call: one(call) for call in calls}
    with ThreadPoolExecutor(max_workers=params.concurrency) as pool:
        return dict(zip(calls, pool.map(one, calls)))


EXTRACTIVE_ANSWER_TOKENS = 160  # extractive preference: the model's answers (rejected side) may be this long
BATCH_LIMIT = 16  # sequences per batched call (the embedded backend's MAX_BATCH_SEQUENCES)


def run_batched(llm, calls: list[Call], template: PromptTemplate, params: GenerationParams,
                on_result: Callable[[Generation], None] | None = None) -> dict[Call, Generation]:
    """Calls that share their messages (the K candidates of a target, when no persona varies the
    prompt) as one `generate_batch` each: the prompt is evaluated once and the K answers decoded
    together. Same results contract as run_calls."""
    groups: dict[str, list[Call]] = {}
    for call in calls:
        groups.setdefault(json.dumps(call.messages, sort_keys=True), []).append(call)
    results: dict[Call, Generation] = {}
    for group in groups.values():
        for start in range(0, len(group), BATCH_LIMIT):
            part = group[start : start + BATCH_LIMIT]
            answers = llm.generate_batch(part[0].messages, seeds=[c.seed for c in part], json_schema=template.decoding_schema,
                                         temperature=params.temperature, max_tokens=params.max_tokens)
            for call, answer in zip(part, answers):
                results[call] = answer
                if on_result:
                    on_result(answer)
    return {call: results[call] for call in calls}


def _candidate(call: Call, result: Generation, template: PromptTemplate, params: GenerationParams, llm) -> Candidate:
    fields, error = _parse_candidate(result.text, result.error, template, call.target)
    return Candidate(
        candidate_id=stable_id(call.target.target_id, call.rank), target_id=call.target.target_id,
        chunk_id=call.target.chunk["chunk_id"], rank=call.rank,
        raw=result.text if result.text is not None else result.raw,  # the answer; the wire body only when there is none
        fields=fields, error=error,
        generation={"backend": llm.backend, "model": llm.model, "model_digest": getattr(llm, "model_digest", None),
                    "endpoints": getattr(llm, "hosts", None),
                    "prompt_version": template.version, "answer_mode": template.answer_mode,
                    "temperature": params.temperature, "seed": call.seed, "k": params.k, "repairs": call.attempt,
                    **call.style,
                    "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                    "seconds": round(result.seconds, 3)},
    )


def _generate_with_repairs(llm, template: PromptTemplate, calls: list[Call], params: GenerationParams,
                           on_result) -> dict[tuple[str, int], tuple[Call, Candidate]]:
    """First round for every call, then up to `params.repair_attempts` rounds for malformed answers
    (not for transport failures: a dead server is not fixed by asking again)."""
    latest: dict[tuple[str, int], tuple[Call, Candidate]] = {}
    pending = calls
    batched = bool(getattr(llm, "can_batch", callable(getattr(llm, "generate_batch", None)))) and params.concurrency <= 1
    for round_ in range(params.repair_attempts + 1):
        if batched and round_ == 0:
            results = run_batched(llm, pending, template, params, on_result)
        else:
            results = run_calls(llm, pending, template, params, on_result)
        repairs = []
        for call, result in results.items():
            candidate = _candidate(call, result, template, params, llm)
            latest[(call.target.target_id, call.rank)] = (call, candidate)
            if candidate.fields is None and result.error is None:
                repairs.append(_repair_call(call, result.text or "", candidate.error or ""))
        pending = repairs
        if not pending:
            break
    return latest


def judge_candidates(llm, template: PromptTemplate, latest: dict, params: GenerationParams,
                     on_result: Callable[[Generation], None] | None = None) -> dict[str, dict[str, float]]:
    """The LLM judge's grades per parsed candidate id, each mapped from 1..5 to 0..1: `score`
    (overall usefulness), `question` and `answer` (per field role). A grade that is missing or
    out of range is left out (the deterministic checks still score)."""
    judge = load_judge_template()
    calls = {}
    for call, candidate in latest.values():
        if candidate.fields is not None:
            record = json.dumps(candidate.fields, ensure_ascii=False, indent=1)
            messages = judge.render(passage=source_text(call.target), schema_name=template.schema_name, record=record)
            calls[Call(call.target, call.rank, messages, call.seed)] = candidate.candidate_id
    results = run_calls(llm, list(calls), judge, params, on_result, temperature=0.0)
    grades = {}
    for call, result in results.items():
        verdict, _error = parse_json_object(result.text)
        found = {k: (verdict[k] - 1) / 4 for k in ("score", "question", "answer")
                 if verdict and verdict.get(k) in (1, 2, 3, 4, 5)}
        if found:
            grades[calls[call]] = found
    return grades


def _score(candidate: Candidate, target: Target, template: PromptTemplate, params: GenerationParams, kept: list[str],
           judge: dict[str, float] | None = None) -> None:
    if candidate.fields is not None:
        judge = judge or {}
        fact = (target.fact.text, target.fact.span) if template.ask_schema is not None and target.fact else None
        reward = score_candidate(candidate.fields, source_text(target), template, kept, params.field_weight,
                                 judge.get("score"), tuple(target.chunk.get("heading_path") or ()),
                                 {role: judge[role] for role in ("question", "answer") if role in judge}, fact)
        candidate.reward_field, candidate.reward_overall = reward.field, reward.overall
        candidate.reward, candidate.detail = reward.total, reward.detail
        overlap = copied_example(candidate.fields, params.seed_examples)
        if overlap >= COPY_THRESHOLD:
            candidate.reward = 0.0
            candidate.detail["copied_seed_example"] = round(overlap, 4)


def _off_fact(candidate: Candidate) -> bool:
    """An extractive question that does not lead to its fact (lexically, or by round-trip
    retrieval when it was measured): the record would pair a question with an answer to another
    one, so it never wins (the target then has no record)."""
    for checks in candidate.detail.get("field", {}).values():
        if checks.get("fact_focus", 1.0) < MIN_FACT_FOCUS or checks.get("fact_match", 1.0) < 1.0:
            return True
    return False


def _match_fact(candidates: list[Candidate], target: Target, template: PromptTemplate, params: GenerationParams) -> None:
    """Round-trip retrieval for the parsed extractive candidates of a target: `fact_match` 1/0 in
    the question field's checks (a gate for select_winner, not a reward share: the reward still
    orders the questions that pass) and the measure in `detail["match"]`."""
    if params.embed is None or target.fact is None or template.ask_schema is None:
        return
    parsed = [c for c in candidates if c.fields is not None and template.question_field in c.detail.get("field", {})]
    questions = [template.question_of(c.fields) for c in parsed]
    for candidate, match in zip(parsed, question_matches(questions, target.fact.text, source_text(target), params.embed, target.fact.span)):
        candidate.detail["field"][template.question_field]["fact_match"] = float(match.ok)
        candidate.detail["match"] = {"similarity": match.similarity, "margin": match.margin,
                                     **({"why": match.why} if match.why else {})}


def _repair_questions(candidates: list[Candidate], target: Target, template: PromptTemplate, params: GenerationParams) -> None:
    """Extractive questions with their small grammar slips repaired (generate/question_repairs.py)
    before they are scored; the wording the model wrote stays in `generation["question_as_written"]`."""
    if target.fact is None or template.ask_schema is None:
        return
    for candidate in candidates:
        if candidate.fields is None:
            continue
        question = template.question_of(candidate.fields)
        repaired = repair_question(question, target.fact.text, form_source(_target_chunks(target)), params.fluency)
        if repaired != question:
            candidate.fields = assemble_record(template.schema_name, repaired, target)
            candidate.generation["question_as_written"] = question


def _target_chunks(target: Target) -> list[dict]:
    return [target.chunk] + ([target.partner] if target.partner is not None else [])


def _measure_form(candidates: list[Candidate], target: Target, template: PromptTemplate, params: GenerationParams) -> None:
    """For the extractive candidates that may win: the faults of the question's form (joins its
    passage never makes, a second question), and its fluency relative to the fact when the model can score wording (one scoring call
    per target), in `detail["form"]`; the fluency also in the generation metadata (the validator reads it)."""
    if target.fact is None or template.ask_schema is None:
        return
    hopeful = [c for c in candidates if c.fields is not None and not _off_fact(c)]
    questions = [template.question_of(c.fields) for c in hopeful]
    fluency = relative_fluency(questions, target.fact.text, params.fluency) if params.fluency and hopeful else []
    source = form_source(_target_chunks(target))
    for i, (candidate, question) in enumerate(zip(hopeful, questions)):
        candidate.detail["form"] = {"faults": form_faults(question, source, target.fact.text, target.fact.span)}
        if fluency and fluency[i] == fluency[i]:  # NaN: not measured
            candidate.detail["form"]["fluency"] = fluency[i]
            candidate.generation["question_fluency"] = fluency[i]


def _rank_key(candidate: Candidate) -> tuple:
    """A question in good form first (no fault of form, fluent enough: else the
    validator sends it to review), then reward + round-trip similarity + FLUENCY_WEIGHT x fluency."""
    form = candidate.detail.get("form", {})
    score = candidate.reward + candidate.detail.get("match", {}).get("similarity", 0.0) + FLUENCY_WEIGHT * form.get("fluency", 0.0)
    return well_formed(form.get("faults", []), form.get("fluency")), round(score, 4), -candidate.rank


def select_winner(candidates: list[Candidate]) -> Candidate | None:
    """Highest reward among parsed candidates; ties go to the lower rank (the earlier seed). An
    extractive candidate whose question does not lead to its fact cannot win; among those that
    do, one in good form (_rank_key) beats one that is not, and the round-trip similarity of
    question and fact (when measured) and the question's fluency are added to the reward: of two
    well-formed questions, the one that asks most directly and most fluently for the fact wins."""
    parsed = [c for c in candidates if c.fields is not None and not _off_fact(c)]
    if not parsed:
        return None
    winner = max(parsed, key=_rank_key)
    winner.is_winner = True
    winner.generation |= {"candidate_rank": winner.rank, "reward_field": winner.reward_field,
                          "reward_overall": winner.reward_overall, "reward": winner.reward,
                          "sibling_rewards": [c.reward for c in sorted(candidates, key=lambda c: c.rank)]}
    return winner


def _run_stage(llm, template: PromptTemplate, targets: list[Target], calls: list[Call], params: GenerationParams,
               on_result, kept: list[str]) -> list[Candidate]:
    """Calls (concurrently), repairs, the optional judge, then scoring in target order, because
    diversity is measured against the winners kept so far (`kept` grows here)."""
    latest = _generate_with_repairs(llm, template, calls, params, on_result)
    grades = judge_candidates(llm, template, latest, params, on_result) if params.judge else {}
    everything: list[Candidate] = []
    for target in targets:
        candidates = [latest[(target.target_id, rank)][1] for rank in range(params.k)]
        _repair_questions(candidates, target, template, params)
        for candidate in candidates:
            _score(candidate, target, template, params, kept, grades.get(candidate.candidate_id))
        _match_fact(candidates, target, template, params)
        _measure_form(candidates, target, template, params)
        winner = select_winner(candidates)
        if winner:
            kept.append(template.question_of(winner.fields))
        everything.extend(candidates)
    return everything


def _by_question_form(template: PromptTemplate, targets: list[Target]) -> list[tuple[PromptTemplate, list[Target]]]:
    """Targets grouped by the extractive question form their fact asks for (a duration of "5
    working days" is asked with "How long ...?" or "How many working days ...?":
    PromptTemplate.for_fact_kind); one group in abstractive mode."""
    groups: dict[object, tuple[PromptTemplate, list[Target]]] = {}
    for target in targets:
        fact = target.fact
        kind = (fact.unit if fact.kind == "QUANTITY" else fact.kind) if fact is not None else ""
        unit = fact.span.split(None, 1)[1] if fact is not None and fact.span and " " in fact.span.strip() else ""
        unit = unit if fact is not None and fact.kind == "QUANTITY" else ""
        form = template.for_fact_kind(kind, unit)
        groups.setdefault(id(form), (form, []))[1].append(target)
    return list(groups.values())


def generate_targets(llm, template: PromptTemplate, targets: list[Target], params: GenerationParams, title: str,
                     on_result: Callable[[Generation], None] | None = None) -> list[Candidate]:
    """All candidates of the given targets, winners marked. Base and multi-hop targets go first;
    an evolved target is then asked to deepen or broaden its base target's winning question (and
    is skipped when that target has no winner: there is nothing to evolve)."""
    kept: list[str] = []
    first = [t for t in targets if t.parent_id is None]
    everything: list[Candidate] = []
    for form, group in _by_question_form(template, first):
        calls = [c for t in group for c in _target_calls(t, form, params, title)]
        everything += _run_stage(llm, form, group, calls, params, on_result, kept)
    questions = {c.target_id: template.question_of(c.fields) for c in everything if c.is_winner}
    evolved = [t for t in targets if t.parent_id in questions]
    calls = [c for t in evolved for c in _target_calls(t, template, params, title, questions[t.parent_id])]
    return everything + (_run_stage(llm, template, evolved, calls, params, on_result, kept) if evolved else [])


def generate_for_chunks(llm, template: PromptTemplate, chunks: list[dict], params: GenerationParams, title: str,
                        on_result: Callable[[Generation], None] | None = None,
                        vectors: dict | None = None) -> list[Candidate]:
    """All candidates for one document: the first `params.max_targets_per_document` targets of its
    plan (core.planning; `vectors`, chunk id -> embedding, enable multi-hop targets)."""
    targets = plan_targets(chunks, template.version, params.max_targets_per_document, vectors, params.kinds,
                           fact_need(template.answer_mode, template.schema_name))
    return generate_planned(llm, template, targets, params, title, on_result)


def generate_planned(llm, template: PromptTemplate, targets: list[Target], params: GenerationParams, title: str,
                     on_result: Callable[[Generation], None] | None = None) -> list[Candidate]:
    """All candidates of already planned targets: preference pairs or one record per target."""
    if template.schema_name == "preference":
        return generate_preferences(llm, template, targets, params, title, on_result)
    return generate_targets(llm, template, targets, params, title, on_result)


def calls_per_target(k: int, judge: bool, schema_name: str) -> int:
    """Model calls one target costs in the first round: K candidates, K judge grades when the judge
    is on, and K answers more for a preference pair."""
    return k * (2 if judge else 1) * (2 if schema_name == "preference" else 1)


def _answer_calls(winners: list[Candidate], targets: dict[str, Target], template: PromptTemplate,
                  params: GenerationParams, title: str) -> tuple[list[Call], dict[str, tuple[Target, str]]]:
    answer = load_answer_template()
    calls, answer_targets = [], {}
    for winner in winners:
        question_target, prompt = targets[winner.target_id], prompt_text(winner.fields)
        target = Target(stable_id(winner.target_id, template.version), question_target.chunk, question_target.kind,
                        partner=question_target.partner, fact=question_target.fact)
        passage, heading_path = _prompt_passage(target)
        messages = answer.render(passage=passage, title=title, heading_path=" > ".join(heading_path) or "-", question=prompt)
        calls += [Call(target, rank, messages, params.base_seed + params.k + rank, style=_target_info(target))
                  for rank in range(params.k)]
        answer_targets[target.target_id] = (target, prompt)
    return calls, answer_targets


def _pair(answers: list[Candidate], prompt: str, question: Candidate, params: GenerationParams) -> None:
    """Marks the best answer as the record {prompt, chosen, rejected}, or records why none is."""
    parsed = sorted((a for a in answers if a.fields is not None), key=lambda a: (-a.reward, a.rank))
    distinct = [a for a in parsed[1:] if a.fields["answer"].strip() != parsed[0].fields["answer"].strip()] if parsed else []
    if not distinct:
        for a in answers:
            a.generation["dropped"] = "fewer than two different parsed answers"
        return
    chosen, rejected = parsed[0], distinct[-1]
    gap = round(chosen.reward - rejected.reward, 4)
    if gap < params.min_preference_gap:
        chosen.generation["dropped"] = f"reward gap {gap} below {params.min_preference_gap}"
        return
    chosen.is_winner = True
    chosen.fields = {"prompt": prompt, "chosen": chosen.fields["answer"], "rejected": rejected.fields["answer"]}
    chosen.generation |= {"candidate_rank": chosen.rank, "rejected_rank": rejected.rank, "reward_gap": gap,
                          "reward_field": chosen.reward_field, "reward_overall": chosen.reward_overall,
                          "reward": chosen.reward, "reward_rejected": rejected.reward,
                          "question_candidate_id": question.candidate_id,
                          "sibling_rewards": [a.reward for a in answers]}


def generate_preferences(llm, template: PromptTemplate, targets: list[Target], params: GenerationParams, title: str,
                         on_result: Callable[[Generation], None] | None = None) -> list[Candidate]:
    """Preference pairs that share one prompt: the best instruction-pair question per target,
    then K answers to it; chosen = best reward, rejected = worst different answer, the gap kept,
    pairs below `min_preference_gap` dropped. Question candidates are stored, never records."""
    questions = generate_targets(llm, load_template("instruction_pair", template.answer_mode), targets, params, title,
                                 on_result)
    winners = [q for q in questions if q.is_winner]
    for q in winners:
        q.is_winner = False
    calls, answer_targets = _answer_calls(winners, {t.target_id: t for t in targets}, template, params, title)
    answer_template = load_answer_template()
    answer_params = params
    if template.answer_mode == "extractive":  # the model's answers are only the rejected side: no repairs, room to finish
        answer_params = replace(params, repair_attempts=0, max_tokens=max(params.max_tokens, EXTRACTIVE_ANSWER_TOKENS))
    latest = _generate_with_repairs(llm, answer_template, calls, answer_params, on_result)
    everything = list(questions)
    for question, (target_id, (target, prompt)) in zip(winners, answer_targets.items()):
        answers = [latest[(target_id, rank)][1] for rank in range(params.k)]
        for answer in answers:
            _score(answer, target, answer_template, params, [])
        if template.answer_mode == "extractive" and target.fact is not None:
            answers.append(_fact_answer(target, answer_template, params, question))
            _pair_with_fact(answers, prompt, question, params)
        else:
            _pair(answers, prompt, question, params)
        everything += answers
    return everything


def _fact_answer(target: Target, answer_template: PromptTemplate, params: GenerationParams,
                 question: Candidate) -> Candidate:
    """The extractive answer to a preference prompt: the target's fact, scored like the model's answers."""
    answer = Candidate(candidate_id=stable_id(target.target_id, "fact"), target_id=target.target_id,
                       chunk_id=target.chunk["chunk_id"], rank=params.k, raw=target.fact.text,
                       fields={"answer": target.fact.text}, error=None,
                       generation=question.generation | {"answer_source": "fact", "repairs": 0})
    _score(answer, target, answer_template, params, [])
    return answer


def _pair_with_fact(answers: list[Candidate], prompt: str, question: Candidate, params: GenerationParams) -> None:
    """Extractive preference: chosen = the fact (grounded by construction, the last answer),
    rejected = the model's worst-scored different answer, kept only when it is worse by at least
    `min_preference_gap` (a real, worse sibling, never a made-up one)."""
    chosen, model_answers = answers[-1], [a for a in answers[:-1] if a.fields is not None]
    worse = sorted((a for a in model_answers if a.fields["answer"].strip() != chosen.fields["answer"].strip()),
                   key=lambda a: (a.reward, -a.rank))
    if not worse or round(chosen.reward - worse[0].reward, 4) < params.min_preference_gap:
        chosen.generation["dropped"] = "no model answer worse than the fact by the minimum gap"
        return
    _pair([chosen, worse[0]], prompt, question, params)
