"""Export: records from the warehouse to JSON Lines, one file per decision.

`dataset.jsonl` holds the approved records (the training set); `review.jsonl` and
`rejected.jsonl` sit beside it with their reasons, so nothing the validator judged is hidden.
Each line carries the schema's fields at the top level plus the full record contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from .decisions import AUTO_APPROVE, AUTO_REJECT, REQUIRE_REVIEW
from .manifest import atomic_write_text
from .sql_files import sql_text
from .warehouse import fetch_dicts

EXPORT_FILES = {AUTO_APPROVE: "dataset.jsonl", REQUIRE_REVIEW: "review.jsonl", AUTO_REJECT: "rejected.jsonl"}


def record_line(row: dict) -> dict:
    """A records-table row as the public record contract."""
    fields = json.loads(row["fields_json"])
    return fields | {
        "record_id": row["record_id"],
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


def export_records(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    """Writes one JSONL file per decision; returns records written per file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for decision, name in EXPORT_FILES.items():
        rows = fetch_dicts(con, sql_text("export_records"), {"decision": decision})
        lines = "".join(json.dumps(record_line(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        atomic_write_text(out_dir / name, lines)
        counts[name] = len(rows)
    return counts
