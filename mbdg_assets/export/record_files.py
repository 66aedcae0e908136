"""Export: records from the warehouse to the files a trainer and an auditor read.

`dataset.jsonl` holds the training set (auto-approved, or approved by a reviewer); `review.jsonl`
and `rejected.jsonl` sit beside it with their reasons, so nothing the validator judged is hidden.
Each line carries the schema's fields at the top level plus the full record contract. The training
set is then split by chunk and written in every training format (`exporters.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT, REQUIRE_REVIEW
from mbdg_assets.export.training_formats import DEFAULT_MIN_GAP, ExportedFile, preference_pairs, write_jsonl, write_training_formats
from mbdg_assets.export.selection import select_records
from mbdg_assets.shared.quotas import Quota
from mbdg_assets.export.review_decisions import apply_review, review_of
from mbdg_assets.export.run_facts import load_export_rows, siblings_by_winner
from mbdg_assets.export.splits import EVAL, TRAIN, assign_splits

EXPORT_SETS = {"dataset": "dataset.jsonl", "review": "review.jsonl", "rejected": "rejected.jsonl"}
SURPLUS_FILE = "surplus.jsonl"  # approved records beyond the N asked for (ExportOptions.max_records)
EXPORT_FILES = {AUTO_APPROVE: "dataset.jsonl", REQUIRE_REVIEW: "review.jsonl", AUTO_REJECT: "rejected.jsonl"}


@dataclass(frozen=True)
class ExportOptions:
    eval_fraction: float = 0.1        # share of chunk groups held out for evaluation
    split_seed: int = 0               # same seed + same records = same split
    dpo_min_gap: float = DEFAULT_MIN_GAP  # smaller reward gaps are too close to call a preference
    max_records: int = 0              # the N records asked for (0: all): the best-scored N form the dataset
    quotas: tuple[str, ...] = ()      # FIELD:VALUE=SHARE minimum shares among those N (core.goal.Quota)


@dataclass
class ExportResult:
    rows: list[dict]                  # every record's export row (export_set, latest review)
    files: list[ExportedFile]
    split_sizes: dict[str, int]
    pairs: int = 0
    pairs_dropped: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # records per decision file
    dataset: list[dict] = field(default_factory=list)     # the training set's record lines
    siblings: dict[str, list[dict]] = field(default_factory=dict)  # winner candidate_id -> its target's candidates


def record_line(row: dict) -> dict:
    """A records-table row (with its latest review) as the public record contract."""
    fields, original = apply_review(json.loads(row["fields_json"]), row)
    line = fields | {
        "record_id": row["record_id"],
        "candidate_id": row.get("candidate_id"),
        "schema": row["schema_name"],
        "chunk_ids": list(row["chunk_ids"]),
        "doc_ids": list(row["doc_ids"]),
        "source_paths": list(row["paths"]),
        "topic": row["topic"],
        "stage_scores": json.loads(row["stage_scores_json"]),
        "score": row["score"],
        "decision": row["decision"],
        "reasons": list(row["reasons"]),
        "supporting_spans": json.loads(row["supporting_spans_json"]),
        "generation": json.loads(row["generation_json"]),
        "duplicate_of": row["duplicate_of"],
    }
    review = review_of(row)
    if review:
        line["review"] = review
    if original is not None:
        line["original_fields"] = original
    return line


def export_records(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    """Writes every export file; returns records per decision file (the foundation's interface)."""
    return export_dataset(con, out_dir).counts


def export_dataset(con: duckdb.DuckDBPyConnection, out_dir: Path, options: ExportOptions = ExportOptions()) -> ExportResult:
    """The decision files, then the training set split by chunk in every training format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = load_export_rows(con)
    lines = {name: [record_line(r) for r in rows if r["export_set"] == name] for name in EXPORT_SETS}
    surplus = _trim(rows, lines, options.max_records, tuple(Quota.parse(q) for q in options.quotas))
    split_of = assign_splits(lines["dataset"], options.eval_fraction, options.split_seed)
    for line in lines["dataset"]:
        line["split"] = split_of[line["record_id"]]
    files = []
    for name, file_name in EXPORT_SETS.items():
        write_jsonl(out_dir / file_name, lines[name])
        files.append(ExportedFile(file_name, len(lines[name]), [line["record_id"] for line in lines[name]]))
    if surplus:
        write_jsonl(out_dir / SURPLUS_FILE, surplus)
        files.append(ExportedFile(SURPLUS_FILE, len(surplus), [line["record_id"] for line in surplus]))
    else:
        (out_dir / SURPLUS_FILE).unlink(missing_ok=True)  # a stale one from a run that asked for fewer
    siblings = siblings_by_winner(con)
    pairs, dropped = preference_pairs(lines["dataset"], siblings, options.dpo_min_gap)
    files += write_training_formats(out_dir, lines["dataset"], split_of, pairs)
    sizes = {split: sum(1 for s in split_of.values() if s == split) for split in (TRAIN, EVAL)}
    counts = {EXPORT_SETS[name]: len(lines[name]) for name in EXPORT_SETS} | ({SURPLUS_FILE: len(surplus)} if surplus else {})
    return ExportResult(rows, files, sizes, len(pairs), dropped, counts=counts, dataset=lines["dataset"], siblings=siblings)


def _trim(rows: list[dict], lines: dict[str, list[dict]], max_records: int, quotas: tuple[Quota, ...]) -> list[dict]:
    """Keep the best-scored `max_records` approved records that meet the quotas as the dataset
    (the count asked for is the count delivered); the rest become the surplus, written beside it
    rather than dropped."""
    dataset = lines["dataset"]
    if max_records <= 0 or len(dataset) <= max_records:
        return []
    keep = {line["record_id"] for line in select_records(dataset, max_records, quotas)}
    lines["dataset"] = [line for line in dataset if line["record_id"] in keep]
    surplus = [line for line in dataset if line["record_id"] not in keep]
    for row in rows:
        if row["export_set"] == "dataset" and row["record_id"] not in keep:
            row["export_set"] = "surplus"
    return surplus
