"""The review queue and one record's review page, as plain data read from the warehouse.

A reviewer's time is best spent where the validator is least sure, so the queue puts first the
records whose score sits closest to a decision threshold and whose five stages disagree most
(a record scoring 1.0 on schema and 0.3 on grounding is a coin toss whatever its mean says).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from mbdg_assets.validate.decisions import STAGES, Thresholds
from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.storage.warehouse import fetch_dicts

FILTERS = ("source", "topic", "schema", "reason")
QUESTION_FIELDS = ("instruction", "question", "prompt", "query")
# Half the width of the default review band: a score this far from both thresholds counts as sure.
CLOSENESS_SCALE = 0.10


@dataclass(frozen=True)
class QueueItem:
    """One undecided REQUIRE_REVIEW record as the queue lists it."""

    record_id: str
    schema: str
    source: str
    topic: str
    score: float
    stage_scores: dict[str, float]
    reasons: list[str]
    preview: str
    uncertainty: float
    nearest_threshold: float

    @property
    def reason_kinds(self) -> list[str]:
        return sorted({reason_kind(r) for r in self.reasons})


@dataclass
class QueueFilters:
    """Exact-match filters; an empty value means "any"."""

    source: str = ""
    topic: str = ""
    schema: str = ""
    reason: str = ""

    @classmethod
    def from_mapping(cls, values: dict) -> QueueFilters:
        return cls(**{name: str(values.get(name) or "")[:500] for name in FILTERS})

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTERS if getattr(self, name)}

    def matches(self, item: QueueItem) -> bool:
        return ((not self.source or item.source == self.source) and (not self.topic or item.topic == self.topic)
                and (not self.schema or item.schema == self.schema)
                and (not self.reason or self.reason in item.reason_kinds))


def reason_kind(reason: str) -> str:
    """The stage a reason names ("grounding: only 40% ..." -> "grounding"): a filter that groups
    reasons whose wording carries numbers and ids."""
    head, sep, _ = reason.partition(":")
    return head.strip() if sep and len(head) <= 40 else "other"


def preview_text(fields: dict, limit: int = 160) -> str:
    """The record's question (or first text) in one line, for the queue table."""
    for name in QUESTION_FIELDS:
        if isinstance(fields.get(name), str):
            return _one_line(fields[name], limit)
    messages = fields.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return _one_line(str(messages[0].get("content", "")), limit)
    text = next((v for v in fields.values() if isinstance(v, str)), json.dumps(fields, ensure_ascii=False))
    return _one_line(text, limit)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uncertainty(score: float, stage_scores: dict[str, float], thresholds: Thresholds = Thresholds()) -> tuple[float, float]:
    """(uncertainty in [0, 1], nearest threshold). Half closeness to the nearest threshold, half the
    spread between the best and worst stage: both say the decision could easily have gone the
    other way, and neither alone separates "borderline" from "one stage is badly off"."""
    nearest = min((thresholds.review, thresholds.approve), key=lambda t: abs(score - t))
    closeness = 1.0 - min(abs(score - nearest) / CLOSENESS_SCALE, 1.0)
    values = [float(v) for v in stage_scores.values() if isinstance(v, (int, float))]
    spread = (max(values) - min(values)) if values else 0.0
    return round(0.5 * closeness + 0.5 * min(spread, 1.0), 4), nearest


def _item(row: dict, thresholds: Thresholds) -> QueueItem:
    stage_scores = json.loads(row["stage_scores_json"] or "{}")
    fields = json.loads(row["fields_json"] or "{}")
    value, nearest = uncertainty(row["score"], stage_scores, thresholds)
    paths = list(row["paths"] or [])
    return QueueItem(row["record_id"], row["schema_name"], paths[0] if paths else "", row["topic"] or "", row["score"],
                     stage_scores, list(row["reasons"] or []), preview_text(fields), value, nearest)


def load_queue(con: duckdb.DuckDBPyConnection, filters: QueueFilters | None = None,
               thresholds: Thresholds = Thresholds()) -> list[QueueItem]:
    """Undecided REQUIRE_REVIEW records, most uncertain first (ties by record id, so stable)."""
    items = [_item(row, thresholds) for row in fetch_dicts(con, sql_text("review_queue"))]
    items = [i for i in items if (filters or QueueFilters()).matches(i)]
    return sorted(items, key=lambda i: (-i.uncertainty, i.record_id))


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The values each filter can take, from the whole undecided queue."""
    items = load_queue(con)
    return {"source": sorted({i.source for i in items}), "topic": sorted({i.topic for i in items}),
            "schema": sorted({i.schema for i in items}), "reason": sorted({k for i in items for k in i.reason_kinds})}


def neighbours(queue: list[QueueItem], record_id: str) -> tuple[str | None, str | None]:
    """(previous, next) record ids around `record_id`; for a decided record (no longer queued) the
    next is the queue's first, so "decide, then next" keeps moving."""
    ids = [i.record_id for i in queue]
    if record_id not in ids:
        return None, (ids[0] if ids else None)
    at = ids.index(record_id)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


def review_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """REQUIRE_REVIEW records still waiting, and records with at least one review decision."""
    pending = con.execute("SELECT count(*) FROM (" + sql_text("review_queue").rstrip().rstrip(";") + ")").fetchone()[0]
    reviewed = con.execute("SELECT count(DISTINCT record_id) FROM review_decisions "
                           "WHERE record_id IN (SELECT record_id FROM records)").fetchone()[0]
    return {"reviews_pending": int(pending), "reviewed": int(reviewed)}


# --- one record --------------------------------------------------------------------------------

@dataclass
class RecordPage:
    """Everything the record page shows, already shaped for the template."""

    record_id: str
    schema: str
    fields: dict
    decision: str
    score: float
    stage_scores: dict[str, float]
    stage_reasons: dict[str, list[str]]
    other_reasons: list[str]
    candidates: list[dict]
    why_winner: str
    chunk: dict
    segments: list[tuple[str, bool]]
    document: dict
    spans: list[dict]
    reviews: list[dict] = field(default_factory=list)


def highlight_segments(text: str, spans: list[dict]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, highlighted) so supporting spans (chunk char offsets) can be marked
    by the template, which escapes every piece; overlapping or out-of-range spans are merged/clipped."""
    ranges = sorted((max(0, int(s["start"])), min(len(text), int(s["end"]))) for s in spans)
    merged: list[list[int]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    segments, at = [], 0
    for start, end in merged:
        if start > at:
            segments.append((text[at:start], False))
        segments.append((text[start:end], True))
        at = end
    if at < len(text) or not segments:
        segments.append((text[at:], False))
    return segments


def _stage_reasons(reasons: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    by_stage: dict[str, list[str]] = {s: [] for s in STAGES}
    other = []
    for reason in reasons:
        kind = reason_kind(reason)
        (by_stage[kind] if kind in by_stage else other).append(reason)
    return by_stage, other


def _candidate(row: dict, record_candidate: str) -> dict:
    return {"candidate_id": row["candidate_id"], "rank": row["rank"], "reward": row["reward"],
            "reward_field": row["reward_field"], "reward_overall": row["reward_overall"], "error": row["error"],
            "winner": row["candidate_id"] == record_candidate or bool(row["is_winner"]),
            "fields": json.loads(row["fields_json"]) if row["fields_json"] else None}


def why_winner(candidates: list[dict]) -> str:
    """One sentence on why the kept candidate beat its siblings: reward, margin, failures."""
    winner = next((c for c in candidates if c["winner"]), None)
    if winner is None or winner["reward"] is None:
        return "the winning candidate is no longer in the warehouse"
    others = [c for c in candidates if not c["winner"]]
    parsed = [c for c in others if not c["error"] and c["reward"] is not None]
    failed = len(others) - len(parsed)
    text = (f"highest total reward {winner['reward']:.3f} of {len(candidates)} candidates "
            f"(field {winner['reward_field'] or 0:.3f} × 0.7 + overall {winner['reward_overall'] or 0:.3f} × 0.3)")
    if parsed:
        runner_up = max(parsed, key=lambda c: c["reward"])
        text += f"; runner-up rank {runner_up['rank']} scored {runner_up['reward']:.3f} (margin {winner['reward'] - runner_up['reward']:+.3f})"
    if failed:
        text += f"; {failed} sibling(s) malformed"
    return text


def load_record(con: duckdb.DuckDBPyConnection, record_id: str) -> RecordPage | None:
    """The record page's data, or None when no record has exactly this id."""
    rows = [r for r in fetch_dicts(con, sql_text("record_lineage"), {"record_id": record_id}) if r["record_id"] == record_id]
    if not rows:
        return None
    row = rows[0]
    siblings = fetch_dicts(con, sql_text("target_candidates"), {"target_id": row["target_id"]}) if row["target_id"] else []
    candidates = [_candidate(c, row["candidate_id"]) for c in siblings]
    spans = json.loads(row["supporting_spans_json"] or "[]")
    text = row["chunk_text"] or ""
    by_stage, other = _stage_reasons(list(row["reasons"] or []))
    chunk = {"chunk_id": row["chunk_id"], "heading_path": list(row["heading_path"] or []),
             "pages": [p for p in (row["pages"] or []) if p], "start_char": row["start_char"], "end_char": row["end_char"],
             "position": row["position"]}
    reviews = fetch_dicts(con, sql_text("record_reviews"), {"record_id": record_id})
    return RecordPage(
        record_id, _schema_of(con, record_id), json.loads(row["fields_json"] or "{}"), row["decision"], row["score"],
        json.loads(row["stage_scores_json"] or "{}"), by_stage, other, candidates, why_winner(candidates), chunk,
        highlight_segments(text, [s for s in spans if s.get("chunk_id") in (None, row["chunk_id"])]),
        {"path": row["path"], "doc_id": row["doc_id"], "format": row["format"], "title": row["title"]},
        [s | {"text": text[s["start"]:s["end"]]} for s in spans], reviews)


def _schema_of(con: duckdb.DuckDBPyConnection, record_id: str) -> str:
    found = con.execute("SELECT schema_name FROM records WHERE record_id = ?", [record_id]).fetchone()
    return found[0] if found else ""


def document_chunks(con: duckdb.DuckDBPyConnection, path: str) -> list[dict]:
    """A document's extracted text chunk by chunk (with pages), for the document page a record links to."""
    return fetch_dicts(con, "SELECT chunk_id, position, heading_path, pages, start_char, end_char, text FROM chunks "
                            "WHERE path = ? ORDER BY position", [path])
