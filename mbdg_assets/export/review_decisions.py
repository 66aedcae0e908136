"""Human review decisions and how they change an exported record.

A reviewer's latest decision per record wins (the export query picks it). `approve` and `edit`
put the record into the training set; `reject` takes it out. An edit replaces the named fields and
keeps the validator's original text under `original_fields`, so an auditor can see both.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb

REVIEW_DECISIONS = ("approve", "reject", "edit")


def add_review_decision(con: duckdb.DuckDBPyConnection, record_id: str, decision: str, reviewer: str,
                        reason: str = "", edited_fields: dict | None = None,
                        decided_at: datetime | None = None) -> None:
    """Append one decision; history is kept, the export reads the latest."""
    if decision not in REVIEW_DECISIONS:
        raise ValueError(f"unknown review decision {decision!r}; expected one of {', '.join(REVIEW_DECISIONS)}")
    if (decision == "edit") != bool(edited_fields):
        raise ValueError("an edit needs edited fields, and only an edit may carry them")
    con.execute(
        "INSERT INTO review_decisions VALUES (?, ?, ?, ?, ?, ?)",
        [record_id, decision, reviewer, reason,
         json.dumps(edited_fields, ensure_ascii=False, sort_keys=True) if edited_fields else None,
         decided_at or datetime.now(timezone.utc)],
    )


def review_of(row: dict, with_values: bool = False) -> dict | None:
    """The review block of an export row (None when nobody reviewed the record). Record lines name
    the edited fields (their values are the record's own); the manifest also keeps the values."""
    if not row.get("review_decision"):
        return None
    decided_at = row.get("decided_at")
    edited = json.loads(row["edited_fields_json"]) if row.get("edited_fields_json") else {}
    return {"decision": row["review_decision"], "reviewer": row.get("reviewer"), "reason": row.get("review_reason"),
            "decided_at": decided_at.isoformat() if hasattr(decided_at, "isoformat") else decided_at,
            "edited_fields": edited if with_values else sorted(edited)}


def apply_review(fields: dict, row: dict) -> tuple[dict, dict | None]:
    """(fields to export, original fields or None): an edit's values replace the originals."""
    if row.get("review_decision") != "edit" or not row.get("edited_fields_json"):
        return fields, None
    return fields | json.loads(row["edited_fields_json"]), dict(fields)
