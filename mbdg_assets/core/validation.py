"""The validator: five stages, each a score in [0, 1] with reasons, combined into one decision.

Stages: schema (JSON Schema), distribution (no source over-represented), dedup (exact, after
normalising case, punctuation and spacing), grounding (the answer's words and numbers found in
the source passage; a hard gate), novelty (lexical distance to records kept before it).
Records are visited best reward first, so of two duplicates the better-scored one is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import jsonschema

from .decisions import Thresholds, decide
from .grounding import lexical_grounding
from .text import content_words, jaccard, normalized_hash, stable_id

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
    grounding_gate: float = 0.6       # below this the answer is unsupported: rejected whatever else
    fair_share_multiple: float = 1.5  # a source may hold up to this many times its fair share


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


def _schema_stage(fields: dict, json_schema: dict) -> tuple[float, list[str]]:
    errors = sorted(jsonschema.Draft202012Validator(json_schema).iter_errors(fields), key=str)
    return (0.0, [f"schema: {e.message}" for e in errors[:3]]) if errors else (1.0, [])


def _distribution_stage(share: float, n_sources: int, multiple: float) -> tuple[float, list[str]]:
    allowed = multiple / n_sources
    if share <= allowed:
        return 1.0, []
    return round(allowed / share, 4), [f"distribution: source holds {share:.0%} of records, allowed {allowed:.0%}"]


def _grounding_stage(fields: dict, chunk: dict, gate: float) -> tuple[float, list[str], list[dict]]:
    result = lexical_grounding(str(fields.get("output", "")), chunk["text"])
    spans = [{"chunk_id": chunk["chunk_id"], "start": s, "end": e} for s, e in result.spans]
    reasons = []
    if result.missing_numbers:
        reasons.append(f"grounding: numbers not in source: {', '.join(result.missing_numbers)}")
    if result.score < gate:
        reasons.append(f"grounding: only {result.score:.0%} of the answer is supported by the source")
    return result.score, reasons, spans


def _novelty_stage(words: set[str], kept: list[set[str]]) -> tuple[float, list[str]]:
    nearest = max((jaccard(words, other) for other in kept), default=0.0)
    score = round(1.0 - nearest, 4)
    return score, ([f"novelty: {nearest:.0%} word overlap with an earlier record"] if nearest >= 0.5 else [])


def _new_record(candidate: dict, schema_name: str) -> ValidatedRecord:
    fields = candidate["fields"]
    chunk = candidate["chunk"]
    content = normalized_hash(*(str(fields.get(k, "")) for k in sorted(fields)))
    return ValidatedRecord(
        record_id=stable_id(candidate["candidate_id"], content), candidate_id=candidate["candidate_id"],
        schema_name=schema_name, fields=fields, chunk_ids=[chunk["chunk_id"]], doc_ids=[chunk["doc_id"]],
        paths=[chunk["path"]], topic=chunk.get("topic") or "", generation=candidate["generation"],
    )


def validate_candidates(candidates: list[dict], schema_name: str, json_schema: dict,
                        params: ValidationParams = ValidationParams()) -> list[ValidatedRecord]:
    """`candidates`: winners, each {candidate_id, fields, reward, generation, chunk: chunks-table row}."""
    ordered = sorted(candidates, key=lambda c: (-c["reward"], c["candidate_id"]))
    per_source = Counter(c["chunk"]["path"] for c in ordered)
    seen: dict[str, str] = {}
    kept_words: list[set[str]] = []
    records = []
    for candidate in ordered:
        record = _new_record(candidate, schema_name)
        fields = record.fields
        scores, reasons = {}, []
        scores["schema"], why = _schema_stage(fields, json_schema)
        reasons += why
        share = per_source[record.paths[0]] / len(ordered)
        scores["distribution"], why = _distribution_stage(share, len(per_source), params.fair_share_multiple)
        reasons += why
        exact = normalized_hash(str(fields.get("instruction", "")), str(fields.get("input", "")), str(fields.get("output", "")))
        record.duplicate_of = seen.get(exact)
        scores["dedup"] = 0.0 if record.duplicate_of else 1.0
        if record.duplicate_of:
            reasons.append(f"dedup: exact duplicate of record {record.duplicate_of}")
        scores["grounding"], why, record.supporting_spans = _grounding_stage(fields, candidate["chunk"], params.grounding_gate)
        reasons += why
        words = set(content_words(f"{fields.get('instruction', '')} {fields.get('output', '')}"))
        scores["novelty"], why = _novelty_stage(words, kept_words)
        reasons += why
        record.stage_scores, record.score = scores, params.weights.combine(scores)
        hard_fail = scores["schema"] == 0.0 or bool(record.duplicate_of) or scores["grounding"] < params.grounding_gate
        record.decision, record.reasons = decide(record.score, params.thresholds, hard_fail), reasons
        if not record.duplicate_of:
            seen[exact] = record.record_id
            kept_words.append(words)
        records.append(record)
    return records
