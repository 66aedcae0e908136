"""Generation: plan targets over chunks, ask the model for K candidates per target, score each
with the hybrid reward and keep the best. Malformed answers become failed candidates that keep
their raw text and the reason; they never stop the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jsonschema

from .json_parsing import parse_json_object
from .prompts import PromptTemplate
from .rewards import FIELD_WEIGHT, score_candidate
from .text import stable_id

MIN_PASSAGE_CHARS = 80  # shorter chunks (a lone heading, a caption) give no answerable question


@dataclass(frozen=True)
class GenerationParams:
    k: int = 4
    temperature: float = 0.8
    base_seed: int = 0
    max_tokens: int = 256
    field_weight: float = FIELD_WEIGHT
    max_targets_per_document: int = 8


@dataclass(frozen=True)
class Target:
    target_id: str
    chunk: dict  # a row of the chunks table


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


def plan_targets(chunks: list[dict], template: PromptTemplate, max_targets: int) -> list[Target]:
    """One target per answerable chunk, spread evenly over the document when there are more
    chunks than the budget allows (so late sections are not starved)."""
    usable = [c for c in chunks if len(c["text"].strip()) >= MIN_PASSAGE_CHARS]
    if len(usable) > max_targets > 0:
        step = len(usable) / max_targets
        usable = [usable[int(i * step)] for i in range(max_targets)]
    return [Target(stable_id(c["chunk_id"], template.version), c) for c in usable]


def _parse_candidate(text: str | None, error: str | None, template: PromptTemplate) -> tuple[dict | None, str | None]:
    if error:
        return None, error
    fields, parse_error = parse_json_object(text)
    if parse_error:
        return None, f"malformed answer: {parse_error}"
    try:
        jsonschema.validate(fields, template.json_schema)
    except jsonschema.ValidationError as invalid:
        return None, f"schema violation: {invalid.message}"
    return fields, None


def generate_candidates(llm, template: PromptTemplate, target: Target, params: GenerationParams,
                        title: str, kept_instructions: list[str]) -> list[Candidate]:
    """K calls with different seeds; each answer parsed, validated and scored."""
    chunk = target.chunk
    messages = template.messages(passage=chunk["text"], title=title, heading_path=chunk["heading_path"] or ())
    candidates = []
    for rank in range(params.k):
        seed = params.base_seed + rank
        result = llm.generate(messages, json_schema=template.decoding_schema, temperature=params.temperature,
                              seed=seed, max_tokens=params.max_tokens)
        fields, error = _parse_candidate(result.text, result.error, template)
        candidate = Candidate(
            candidate_id=stable_id(target.target_id, rank), target_id=target.target_id,
            chunk_id=chunk["chunk_id"], rank=rank,
            raw=result.raw or result.text or "", fields=fields, error=error,
            generation={"backend": llm.backend, "model": llm.model, "prompt_version": template.version,
                        "temperature": params.temperature, "seed": seed, "k": params.k,
                        "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                        "seconds": round(result.seconds, 3)},
        )
        if fields is not None:
            reward = score_candidate(fields, chunk["text"], template.json_schema, kept_instructions, params.field_weight)
            candidate.reward_field, candidate.reward_overall = reward.field, reward.overall
            candidate.reward, candidate.detail = reward.total, reward.detail
        candidates.append(candidate)
    return candidates


def select_winner(candidates: list[Candidate]) -> Candidate | None:
    """Highest reward among parsed candidates; ties go to the lower rank (the earlier seed)."""
    parsed = [c for c in candidates if c.fields is not None]
    if not parsed:
        return None
    winner = max(parsed, key=lambda c: (c.reward, -c.rank))
    winner.is_winner = True
    winner.generation |= {"candidate_rank": winner.rank, "reward_field": winner.reward_field,
                          "reward_overall": winner.reward_overall, "reward": winner.reward}
    return winner


def generate_for_chunks(llm, template: PromptTemplate, chunks: list[dict], params: GenerationParams, title: str,
                        progress: Callable[[int, int], None] | None = None) -> list[Candidate]:
    """All candidates for one document's chunks, winners marked."""
    targets = plan_targets(chunks, template, params.max_targets_per_document)
    kept: list[str] = []
    everything: list[Candidate] = []
    for done, target in enumerate(targets, start=1):
        candidates = generate_candidates(llm, template, target, params, title, kept)
        winner = select_winner(candidates)
        if winner:
            kept.append(winner.fields["instruction"])
        everything.extend(candidates)
        if progress:
            progress(done, len(targets))
    return everything
