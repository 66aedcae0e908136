"""The validator: five stages, each a score in [0, 1] with reasons, combined into one decision.

The stages are objects with one interface (validate/stages.py): schema (JSON Schema and a real
task), distribution (no source over-represented; the dataset-wide Great Expectations suite is in
validate/distribution.py), dedup (exact, MinHash-LSH near and embedding semantic duplicates,
inside the run and against earlier accepted records; validate/dedup.py), grounding (every
essential claim of the answer linked to a supporting span, with numbers, names, dates and
negation checked; a hard gate; validate/grounding.py), novelty (distance to the nearest accepted
record and coverage gain; validate/novelty.py). Each run counts what every stage kept and
flagged. Contamination against user evaluation sets and verbatim copying are reported as reasons
(validate/contamination.py). Records are visited best reward first, so of two duplicates the
better-scored one is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mbdg_assets.enrich.embeddings import PrefetchedEmbed
from mbdg_assets.validate.accepted_records import PriorRecords
from mbdg_assets.validate.grounding import grounding_texts
from mbdg_assets.validate.contamination import VERBATIM_WORDS, EvalIndex, contamination, verbatim_reason
from mbdg_assets.validate.decisions import Thresholds, decide
from mbdg_assets.validate.dedup import NEAR_JACCARD, SEMANTIC_COSINE, find_duplicates, minhash_signatures, shingles
from mbdg_assets.validate.novelty import nearest_jaccard, nearest_similarities
from mbdg_assets.validate.decisions import STAGES
from mbdg_assets.validate.stages import (DedupStage, DistributionStage, GroundingStage, NoveltyStage, SchemaStage,
                                         StageCounter, StageCounts, StageItem, record_chunks)
from mbdg_assets.llm.prompts import PromptTemplate, template_for
from mbdg_assets.shared.text import content_stems, content_words, normalized_hash, stable_id, string_values

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


def record_text(fields: dict) -> str:
    """Every string in the record, in key order: what 'the same record' compares."""
    return "\n".join(s for s in string_values(fields) if s)


def _new_record(candidate: dict, schema_name: str) -> ValidatedRecord:
    fields, chunks = candidate["fields"], record_chunks(candidate)
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


PREFETCH_RECORDS = 256  # records whose grounding texts are embedded in one call


class Validation(list):
    """The validated records (a list, best reward first) with each stage's counts (`stages`:
    stage name -> StageCounts) from the same run."""

    def __init__(self, records: list[ValidatedRecord], stages: dict[str, StageCounts]) -> None:
        super().__init__(records)
        self.stages = stages


def _batch_stages(records: list[ValidatedRecord], dups, nearest: list[float], prior: PriorRecords,
                  template: PromptTemplate, params: ValidationParams, embed, judge) -> StageCounter:
    """The five stages, each told what it needs about the whole batch."""
    per_source = Counter(r.paths[0] for r in records)
    seen_terms = {s for t in prior.texts for s in content_stems(t)}
    return StageCounter([
        SchemaStage(template, embed),
        DistributionStage(per_source, len(records), params.fair_share_multiple),
        DedupStage(dups),
        GroundingStage(params.grounding_gate, embed, judge),
        NoveltyStage(nearest, set(prior.chunk_ids), set(prior.topics), seen_terms),
    ])


def _stage_item(index: int, candidate: dict, text: str, template: PromptTemplate,
                duplicate_of: str | None = None) -> StageItem:
    fields = candidate["fields"]
    return StageItem(index, fields, candidate, text, template.answer_of(fields), duplicate_of, template.question_of(fields))


def _grounding_block(items: list[StageItem]) -> list[str]:
    """The texts the grounding stage will embed for these records, to embed them in one call."""
    return [t for item in items for t in grounding_texts(item.answer, item.source_text, item.question)]


def validation_texts(candidates: list[dict], schema_name: str, json_schema: dict) -> list[str]:
    """The texts validate_candidates asks its embedder for, record by record: the record's text
    and its grounding claims and source windows. Independent of the other records, so they can be
    embedded per slice of documents ahead of the dataset run (validate/vectors_ahead.py); the
    extractive schema check's few texts are left to the run."""
    template = template_for(schema_name, json_schema)
    items = [_stage_item(i, c, record_text(c["fields"]), template) for i, c in enumerate(candidates)]
    return [item.text for item in items] + _grounding_block(items)


def validate_candidates(candidates: list[dict], schema_name: str, json_schema: dict,
                        params: ValidationParams = ValidationParams(), embedder=None,
                        prior: PriorRecords | None = None, eval_index: EvalIndex | None = None,
                        judge=None) -> Validation:
    """`candidates`: winners, each {candidate_id, fields, reward, generation, chunk: chunks-table row}.
    `embedder` (enrich.embeddings.Embedder, optional) adds semantic dedup, embedding grounding evidence
    and embedding novelty; `prior`: records accepted in earlier runs; `eval_index`: the user's
    evaluation items for the contamination check; `judge`: optional entailment hook for claims
    that are not near-verbatim (see validate.grounding.claim_grounding, validate.entailment)."""
    template = template_for(schema_name, json_schema)
    ordered = sorted(candidates, key=lambda c: (-c["reward"], c["candidate_id"]))
    records = [_new_record(c, schema_name) for c in ordered]
    prior = (prior or PriorRecords()).without({r.record_id for r in records}, {r.paths[0] for r in records})
    texts = [record_text(r.fields) for r in records]
    # the dataset run's embedder keeps its vectors in the warehouse (storage/text_vectors.py)
    vectors = embedder.embed(texts) if embedder is not None and texts else None
    signatures = minhash_signatures([shingles(t) for t in texts])
    dups = find_duplicates([r.record_id for r in records], texts, vectors, prior.keys, prior.texts, prior.vectors,
                           params.near_jaccard, params.semantic_cosine, signatures, prior.signatures)
    for i, record in enumerate(records):
        record.duplicate_of = dups.duplicate_of[i]
        record.vector = None if vectors is None else vectors[i]
        record.signature = signatures[i]
    contaminated = contamination(texts, eval_index)
    embed = PrefetchedEmbed(embedder.embed) if embedder is not None else None
    stages = _batch_stages(records, dups, _nearest(records, texts, vectors, prior), prior, template, params, embed, judge)
    items = [_stage_item(i, candidate, texts[i], template, record.duplicate_of)
             for i, (record, candidate) in enumerate(zip(records, ordered))]
    for record, item in zip(records, items):
        if embed is not None and item.index % PREFETCH_RECORDS == 0:
            embed.prefetch(_grounding_block(items[item.index:item.index + PREFETCH_RECORDS]))
        results = stages.check(item)
        record.supporting_spans = list(results["grounding"].spans)
        reported = [r for r in (contaminated[item.index], verbatim_reason(item.answer, item.source_text, params.verbatim_words)) if r]
        record.reasons = [reason for result in results.values() for reason in result.reasons] + reported
        record.stage_scores = {name: result.score for name, result in results.items()}
        record.score = params.weights.combine(record.stage_scores)
        hard_fail = any(r.hard_fail for r in results.values()) or (params.reject_contaminated and contaminated[item.index] is not None)
        record.decision = decide(record.score, params.thresholds, hard_fail, any(r.review for r in results.values()))
    return Validation(records, stages.counts)
