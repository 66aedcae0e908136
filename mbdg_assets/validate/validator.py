"""The validator: five stages, each a score in [0, 1] with reasons, combined into one decision.

Stages: schema (JSON Schema), distribution (no source over-represented; the dataset-wide Great
Expectations suite is in core/distribution.py), dedup (exact, MinHash-LSH near and embedding
semantic duplicates, inside the run and against earlier accepted records; core/dedup.py),
grounding (every essential claim of the answer linked to a supporting span, with numbers, names,
dates and negation checked; a hard gate; core/grounding.py), novelty (distance to the nearest
accepted record and coverage gain; core/novelty.py). Contamination against user evaluation sets
and verbatim copying are reported as reasons (core/contamination.py).
Records are visited best reward first, so of two duplicates the better-scored one is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import jsonschema
import numpy as np

from mbdg_assets.validate.accepted_records import PriorRecords
from mbdg_assets.validate.contamination import VERBATIM_WORDS, EvalIndex, contamination, verbatim_reason
from mbdg_assets.validate.decisions import Thresholds, decide
from mbdg_assets.validate.dedup import NEAR_JACCARD, SEMANTIC_COSINE, find_duplicates, minhash_signatures, shingles
from mbdg_assets.validate.grounding import claim_grounding
from mbdg_assets.validate.novelty import coverage_gain, nearest_jaccard, nearest_similarities, novelty
from mbdg_assets.generate.planning import MULTIHOP_JOIN
from mbdg_assets.llm.prompts import PromptTemplate, template_for
from mbdg_assets.generate.rewards import asks_a_task, task_form
from mbdg_assets.shared.text import content_stems, content_words, normalized_hash, stable_id

STAGES = ("schema", "distribution", "dedup", "grounding", "novelty")


@dataclass(frozen=True)
class StageWeights:
    schema: float = 0.2
    distribution: float = 0.1
    dedup: float = 0.2
    grounding: float = 0.3
    novelty: float = 0.2

    def combine(self, scores: dict[str, float]) -> float:
        weights = {stage: getattr(self, stage) for stage in STAGES}
        return round(sum(weights[s] * scores[s] for s in STAGES) / sum(weights.values()), 4)


@dataclass(frozen=True)
class ValidationParams:
    thresholds: Thresholds = Thresholds()
    weights: StageWeights = StageWeights()
    grounding_gate: float = 0.6       # below this an essential claim is unsupported: rejected whatever else
    fair_share_multiple: float = 1.5  # a source may hold up to this many times its fair share
    near_jaccard: float = NEAR_JACCARD
    semantic_cosine: float = SEMANTIC_COSINE
    reject_contaminated: bool = False  # contamination is always reported; rejecting is the user's call
    verbatim_words: int = VERBATIM_WORDS


@dataclass
class ValidatedRecord:
    record_id: str
    candidate_id: str
    schema_name: str
    fields: dict
    chunk_ids: list[str]
    doc_ids: list[str]
    paths: list[str]
    topic: str
    generation: dict
    stage_scores: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    decision: str = ""
    reasons: list[str] = field(default_factory=list)
    supporting_spans: list[dict] = field(default_factory=list)
    duplicate_of: str | None = None
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)     # for accepted_records
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k in sorted(value) for s in _strings(value[k])]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def record_text(fields: dict) -> str:
    """Every string in the record, in key order: what 'the same record' compares."""
    return "\n".join(s for s in _strings(fields) if s)


def _schema_stage(fields: dict, template: PromptTemplate, heading_path) -> tuple[float, list[str]]:
    """JSON Schema, then the question must ask something (the generation reward's task_form):
    a bare heading passes any schema but is no training example."""
    errors = sorted(jsonschema.Draft202012Validator(template.json_schema).iter_errors(fields), key=str)
    if errors:
        return 0.0, [f"schema: {e.message}" for e in errors[:3]]
    if asks_a_task(template):
        score, why = task_form(template.question_of(fields), tuple(heading_path or ()))
        if why:
            return score, [f"schema: {why}"]
    return 1.0, []


def _distribution_stage(share: float, n_sources: int, multiple: float) -> tuple[float, list[str]]:
    allowed = multiple / n_sources
    if share <= allowed:
        return 1.0, []
    return round(allowed / share, 4), [f"distribution: source holds {share:.0%} of records, allowed {allowed:.0%}"]


def _sources(candidate: dict) -> list[dict]:
    """The chunk rows a record is grounded in: its chunk, and a multi-hop record's partner chunk."""
    return [candidate["chunk"]] + ([candidate["partner"]] if candidate.get("partner") else [])


def _source_text(chunks: list[dict]) -> str:
    return MULTIHOP_JOIN.join(c["text"] for c in chunks)  # the text generation grounded its reward in


def _chunk_span(chunks: list[dict], start: int, end: int) -> dict:
    """A span of the joined source text as offsets inside the chunk it falls in."""
    offset = 0
    for chunk in chunks:
        length = len(chunk["text"])
        if start < offset + length or chunk is chunks[-1]:
            return {"chunk_id": chunk["chunk_id"], "start": max(start - offset, 0), "end": min(end - offset, length)}
        offset += length + len(MULTIHOP_JOIN)
    raise ValueError("no chunks")


def _grounding_stage(answer: str, chunks: list[dict], gate: float, embed, judge=None,
                     question: str | None = None) -> tuple[float, list[str], list[dict]]:
    result = claim_grounding(answer, _source_text(chunks), embed, judge, question)
    spans = [_chunk_span(chunks, s, e) for s, e in result.spans]
    reasons = result.reasons(gate)
    if not result.claims:
        reasons.append("grounding: the answer states nothing to check against the source")
    return result.score, reasons, spans


def _new_record(candidate: dict, schema_name: str) -> ValidatedRecord:
    fields, chunks = candidate["fields"], _sources(candidate)
    content = normalized_hash(*(str(fields.get(k, "")) for k in sorted(fields)))
    return ValidatedRecord(
        record_id=stable_id(candidate["candidate_id"], content), candidate_id=candidate["candidate_id"],
        schema_name=schema_name, fields=fields, chunk_ids=[c["chunk_id"] for c in chunks],
        doc_ids=list(dict.fromkeys(c["doc_id"] for c in chunks)), paths=list(dict.fromkeys(c["path"] for c in chunks)),
        topic=chunks[0].get("topic") or "", generation=candidate["generation"],
    )


def _nearest(records: list[ValidatedRecord], texts: list[str], vectors: np.ndarray | None, prior: PriorRecords) -> list[float]:
    """Similarity of each record to the nearest earlier non-duplicate record or prior accepted one."""
    kept = np.array([r.duplicate_of is None for r in records])
    if vectors is not None:
        prior_vectors = prior.vectors if prior.vectors is not None and len(prior.vectors) else None
        return nearest_similarities(vectors, lambda i: kept[:i], prior_vectors).tolist()
    word_sets = [set(content_words(t)) for t in texts]
    prior_sets = [set(content_words(t)) for t in prior.texts]
    return [nearest_jaccard(word_sets[i], prior_sets + [word_sets[j] for j in range(i) if kept[j]]) for i in range(len(records))]


def validate_candidates(candidates: list[dict], schema_name: str, json_schema: dict,
                        params: ValidationParams = ValidationParams(), embedder=None,
                        prior: PriorRecords | None = None, eval_index: EvalIndex | None = None,
                        judge=None) -> list[ValidatedRecord]:
    """`candidates`: winners, each {candidate_id, fields, reward, generation, chunk: chunks-table row}.
    `embedder` (core.embeddings.Embedder, optional) adds semantic dedup, embedding grounding evidence
    and embedding novelty; `prior`: records accepted in earlier runs; `eval_index`: the user's
    evaluation items for the contamination check; `judge`: optional entailment hook for claims
    that are not near-verbatim (see core.grounding.claim_grounding, core.entailment)."""
    template = template_for(schema_name, json_schema)
    ordered = sorted(candidates, key=lambda c: (-c["reward"], c["candidate_id"]))
    records = [_new_record(c, schema_name) for c in ordered]
    prior = (prior or PriorRecords()).without({r.record_id for r in records}, {r.paths[0] for r in records})
    texts = [record_text(r.fields) for r in records]
    vectors = embedder.embed(texts) if embedder is not None and texts else None
    signatures = minhash_signatures([shingles(t) for t in texts])
    dups = find_duplicates([r.record_id for r in records], texts, vectors, prior.keys, prior.texts, prior.vectors,
                           params.near_jaccard, params.semantic_cosine, signatures, prior.signatures)
    for i, record in enumerate(records):
        record.duplicate_of = dups.duplicate_of[i]
        record.vector = None if vectors is None else vectors[i]
        record.signature = signatures[i]
    nearest = _nearest(records, texts, vectors, prior)
    contaminated = contamination(texts, eval_index)
    per_source = Counter(r.paths[0] for r in records)
    seen_chunks, seen_topics = set(prior.chunk_ids), set(prior.topics)
    seen_terms = {s for t in prior.texts for s in content_stems(t)}
    embed = embedder.embed if embedder is not None else None
    for i, (record, candidate) in enumerate(zip(records, ordered)):
        fields, scores, reasons = record.fields, {}, []
        scores["schema"], why = _schema_stage(fields, template, candidate["chunk"].get("heading_path"))
        reasons += why
        share = per_source[record.paths[0]] / len(records)
        scores["distribution"], why = _distribution_stage(share, len(per_source), params.fair_share_multiple)
        reasons += why
        scores["dedup"] = 0.0 if record.duplicate_of else 1.0
        if record.duplicate_of:
            reasons.append(f"dedup: {dups.kind[i]} duplicate of record {record.duplicate_of} (similarity {dups.similarity[i]:.2f})")
        answer = template.answer_of(fields)
        scores["grounding"], why, record.supporting_spans = _grounding_stage(answer, _sources(candidate), params.grounding_gate, embed, judge,
                                                                             template.question_of(fields))
        reasons += why
        terms = set(content_stems(texts[i]))
        gain = coverage_gain(record.chunk_ids[0], record.topic, terms, seen_chunks, seen_topics, seen_terms)
        found = novelty(nearest[i], gain)
        scores["novelty"] = found.score
        reasons += found.reasons
        if not record.duplicate_of:
            seen_chunks.add(record.chunk_ids[0]), seen_topics.add(record.topic), seen_terms.update(terms)
        extra = [r for r in (contaminated[i], verbatim_reason(answer, _source_text(_sources(candidate)), params.verbatim_words)) if r]
        reasons += extra
        record.stage_scores, record.score = scores, params.weights.combine(scores)
        hard_fail = (scores["schema"] == 0.0 or bool(record.duplicate_of) or scores["grounding"] < params.grounding_gate
                     or (params.reject_contaminated and contaminated[i] is not None))
        record.decision, record.reasons = decide(record.score, params.thresholds, hard_fail), reasons
    return records
