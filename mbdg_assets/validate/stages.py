"""The five validation stages as objects with one interface, and their counted results.

A stage is built once per validation run with what it needs to know about the whole batch
(duplicate matches, records per source, nearest neighbours), then `check`s one record at a time
and returns a `StageResult`: a score in [0, 1], the reasons it raised, whether the record fails
whatever its combined score (`hard_fail`), and a short `kind` naming why it was flagged.
`StageCounter` counts, per stage, the records it kept (no reason), flagged and hard-failed, and
the flagged ones per kind, the way datatrove's filters count what they forward and drop: the
data card and manifest read these counts, they no longer split reason strings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

import jsonschema

from mbdg_assets.generate.planning import MULTIHOP_JOIN
from mbdg_assets.generate.rewards import asks_a_task, task_form
from mbdg_assets.llm.prompts import PromptTemplate
from mbdg_assets.shared.text import content_stems
from mbdg_assets.validate.dedup import DedupResult
from mbdg_assets.validate.grounding import claim_grounding
from mbdg_assets.validate.novelty import coverage_gain, novelty
from mbdg_assets.validate.question_fluency import MIN_FLUENCY, disfluent, form_faults, form_source
from mbdg_assets.validate.question_match import question_matches


def record_chunks(candidate: dict) -> list[dict]:
    """The chunk rows a record is grounded in: its chunk, and a multi-hop record's partner chunk."""
    return [candidate["chunk"]] + ([candidate["partner"]] if candidate.get("partner") else [])


@dataclass(frozen=True)
class StageItem:
    """One record as the stages see it: its position in the batch (best reward first), fields,
    winning candidate (with its chunk row and a multi-hop partner), text and duplicate match."""

    index: int
    fields: dict
    candidate: dict
    text: str
    answer: str
    duplicate_of: str | None = None
    question: str | None = None  # a short answer is judged with its question (validate.question_claims)

    @property
    def chunks(self) -> list[dict]:
        return record_chunks(self.candidate)

    @property
    def source_text(self) -> str:
        return MULTIHOP_JOIN.join(c["text"] for c in self.chunks)  # the text generation grounded its reward in


@dataclass(frozen=True)
class StageResult:
    score: float
    reasons: tuple[str, ...] = ()
    kind: str = ""             # why it was flagged, one short word per stage outcome ("" when kept)
    hard_fail: bool = False    # rejected whatever the combined score
    review: bool = False       # a person must see it: never AUTO_APPROVE, whatever the combined score
    spans: tuple[dict, ...] = ()  # grounding: the supporting spans found

    @property
    def kept(self) -> bool:
        return not self.reasons


class Stage(Protocol):
    name: str

    def check(self, item: StageItem) -> StageResult: ...


@dataclass(frozen=True)
class SchemaStage:
    """JSON Schema, then the question must ask something (the generation reward's task_form):
    a bare heading passes any schema but is no training example. An extractive record (its answer
    is the fact its target aimed at) must also have a question that its fact answers: the fact is
    the question's nearest sentence of the passage (validate/question_match.py, with `embed`), and
    a question in poor form (validate/question_fluency.py) goes to review."""

    template: PromptTemplate
    embed: Callable | None = None
    name: str = "schema"

    def check(self, item: StageItem) -> StageResult:
        errors = sorted(jsonschema.Draft202012Validator(self.template.json_schema).iter_errors(item.fields), key=str)
        if errors:
            return StageResult(0.0, tuple(f"schema: {e.message}" for e in errors[:3]), "invalid", hard_fail=True)
        if asks_a_task(self.template):
            score, why = task_form(self.template.question_of(item.fields), tuple(item.candidate["chunk"].get("heading_path") or ()))
            if why:
                return StageResult(score, (f"schema: {why}",), "no_task", hard_fail=score == 0.0)
        return self._fact_match(item)

    def _fact_match(self, item: StageItem) -> StageResult:
        generation = item.candidate.get("generation") or {}
        if self.embed is None or generation.get("answer_mode") != "extractive" or not generation.get("fact"):
            return StageResult(1.0)
        question = self.template.question_of(item.fields)
        match = question_matches([question], generation["fact"], item.source_text, self.embed,
                                 generation.get("fact_span"))[0]
        if not match.ok:
            return StageResult(0.0, (f"schema: {match.why}",), "off_fact", hard_fail=True)
        return self._form(question, item, generation)

    @staticmethod
    def _form(question: str, item: StageItem, generation: dict) -> StageResult:
        """An extractive question in poor form goes to review (validate/question_fluency.py): one
        that joins words its passage never joins ("a customer service response"), asks two
        things or none of what its fact says of its subject, or whose wording
        the model found much less likely than its fact's (measured at generation). Its score stays 1:
        the review flag, not the combined score, holds it back (a person decides)."""
        faults = form_faults(question, form_source(item.chunks), generation["fact"], generation.get("fact_span"))
        if faults:
            return StageResult(1.0, tuple(f"schema: {fault}" for fault in faults), "garbled", review=True)
        fluency = generation.get("question_fluency")
        if disfluent(fluency):
            return StageResult(1.0, (f"schema: the question reads garbled (fluency {fluency:.2f} < {MIN_FLUENCY})",),
                               "disfluent", review=True)
        return StageResult(1.0)


@dataclass(frozen=True)
class DistributionStage:
    """No source holds more than `multiple` times its fair share of the batch's records."""

    per_source: Counter
    records: int
    multiple: float
    name: str = "distribution"

    def check(self, item: StageItem) -> StageResult:
        share = self.per_source[item.candidate["chunk"]["path"]] / self.records
        allowed = self.multiple / len(self.per_source)
        if share <= allowed:
            return StageResult(1.0)
        return StageResult(round(allowed / share, 4), (f"distribution: source holds {share:.0%} of records, allowed {allowed:.0%}",),
                           "over_share")


@dataclass(frozen=True)
class DedupStage:
    """The batch's duplicate matches (exact, near, semantic; inside the run and against earlier
    accepted records), found once for the whole batch before the stages run."""

    dups: DedupResult
    name: str = "dedup"

    def check(self, item: StageItem) -> StageResult:
        if not item.duplicate_of:
            return StageResult(1.0)
        kind = self.dups.kind[item.index]
        reason = f"dedup: {kind} duplicate of record {item.duplicate_of} (similarity {self.dups.similarity[item.index]:.2f})"
        return StageResult(0.0, (reason,), f"{kind}_duplicate", hard_fail=True)


def _chunk_span(chunks: list[dict], start: int, end: int) -> dict:
    """A span of the joined source text as offsets inside the chunk it falls in."""
    offset = 0
    for chunk in chunks:
        length = len(chunk["text"])
        if start < offset + length or chunk is chunks[-1]:
            return {"chunk_id": chunk["chunk_id"], "start": max(start - offset, 0), "end": min(end - offset, length)}
        offset += length + len(MULTIHOP_JOIN)
    raise ValueError("no chunks")


@dataclass(frozen=True)
class GroundingStage:
    """Every essential claim of the answer linked to a supporting span (validate.grounding);
    below `gate` the record is rejected whatever else."""

    gate: float
    embed: Callable | None = None
    judge: object | None = None
    name: str = "grounding"

    def check(self, item: StageItem) -> StageResult:
        chunks = item.chunks
        result = claim_grounding(item.answer, item.source_text, self.embed, self.judge, item.question)
        reasons = result.reasons(self.gate)
        if not result.claims:
            reasons.append("grounding: the answer states nothing to check against the source")
        failed = result.score < self.gate
        kind = ("" if not reasons else "nothing_to_check" if not result.claims else "unsupported_claim" if failed
                else "word_replaced" if result.needs_review else "judge_abstained")
        spans = tuple(_chunk_span(chunks, s, e) for s, e in result.spans)
        return StageResult(result.score, tuple(reasons), kind, hard_fail=failed, review=result.needs_review, spans=spans)


@dataclass
class NoveltyStage:
    """Distance to the nearest accepted record and the coverage a record adds: what earlier,
    non-duplicate records of the batch have seen grows as records are checked in order."""

    nearest: list[float]
    seen_chunks: set[str]
    seen_topics: set[str]
    seen_terms: set[str]
    name: str = "novelty"

    def check(self, item: StageItem) -> StageResult:
        chunk = item.candidate["chunk"]
        topic = chunk.get("topic") or ""
        terms = set(content_stems(item.text))
        gain = coverage_gain(chunk["chunk_id"], topic, terms, self.seen_chunks, self.seen_topics, self.seen_terms)
        found = novelty(self.nearest[item.index], gain)
        if not item.duplicate_of:
            self.seen_chunks.add(chunk["chunk_id"]), self.seen_topics.add(topic), self.seen_terms.update(terms)
        return StageResult(found.score, tuple(found.reasons), "not_novel" if found.reasons else "")


@dataclass
class StageCounts:
    """One stage's tally over a batch: records kept (no reason), flagged, hard-failed, and the
    flagged ones per kind."""

    kept: int = 0
    flagged: int = 0
    failed: int = 0
    kinds: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"kept": self.kept, "flagged": self.flagged, "failed": self.failed, "kinds": dict(sorted(self.kinds.items()))}


@dataclass
class StageCounter:
    """Runs the stages on one record after another and counts what each kept and flagged."""

    stages: list[Stage]
    counts: dict[str, StageCounts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {stage.name: StageCounts() for stage in self.stages}

    def check(self, item: StageItem) -> dict[str, StageResult]:
        results = {}
        for stage in self.stages:
            result = results[stage.name] = stage.check(item)
            tally = self.counts[stage.name]
            tally.kept += result.kept
            tally.flagged += not result.kept
            tally.failed += result.hard_fail
            if result.kind:
                tally.kinds[result.kind] += 1
        return results


def stage_summary(counts: dict[str, StageCounts]) -> str:
    """One line for a person: per stage, records kept of all, and the kinds it flagged."""
    parts = []
    for name, c in counts.items():
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(c.kinds.items()))
        parts.append(f"{name} {c.kept}/{c.kept + c.flagged}" + (f" ({kinds})" if kinds else ""))
    return "stages kept: " + "; ".join(parts)
