"""Review decisions with an optimistic check, so two browser tabs can never silently overwrite.

Every page that offers a decision carries the record's decision *version* (a digest of its review
history). A decision or an undo is written only if the version is still the same; otherwise it is
refused with a message and the reviewer sees what the other tab decided. The rows themselves go
into `review_decisions` through `core/reviews.add_review_decision`, the table the export reads.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from datetime import datetime, timezone

import duckdb

from mbdg_assets.export.review_decisions import add_review_decision
from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.storage.warehouse import fetch_dicts

NO_DECISION = "none"
# One lock per process: DuckDB admits one writing process, so this makes check-then-write atomic.
_WRITE_LOCK = threading.Lock()


class DecisionConflict(Exception):
    """The record's decisions changed since the page was rendered (another tab or reviewer)."""


def default_reviewer(explicit: str | None = None, settings: dict | None = None) -> str:
    """--reviewer, else MBDG_REVIEWER, else the project's `reviewer` setting, else the OS user."""
    chosen = explicit or os.environ.get("MBDG_REVIEWER") or (settings or {}).get("reviewer")
    if chosen:
        return str(chosen)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def history(con: duckdb.DuckDBPyConnection, record_id: str) -> list[dict]:
    """The record's review decisions, oldest first."""
    return fetch_dicts(con, sql_text("record_reviews"), {"record_id": record_id})


def version_of(rows: list[dict]) -> str:
    """A digest of a review history: changes with every decision and every undo."""
    if not rows:
        return NO_DECISION
    last = rows[-1]
    key = f"{len(rows)}|{last['decision']}|{last['reviewer']}|{last['decided_at'].isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def decision_version(con: duckdb.DuckDBPyConnection, record_id: str) -> str:
    return version_of(history(con, record_id))


def _check(con: duckdb.DuckDBPyConnection, record_id: str, expected: str) -> list[dict]:
    rows = history(con, record_id)
    if version_of(rows) != expected:
        last = rows[-1] if rows else None
        what = (f"{last['decision']} by {last['reviewer']} at {last['decided_at']:%Y-%m-%d %H:%M:%S}"
                if last else "its decision was undone")
        raise DecisionConflict(f"record {record_id} changed since this page was opened ({what}); "
                               "your decision was not saved: look at the record again")
    return rows


def record_decision(con: duckdb.DuckDBPyConnection, record_id: str, decision: str, reviewer: str, expected_version: str,
                    reason: str = "", edited_fields: dict | None = None) -> str:
    """Append a decision if nobody decided since `expected_version`; returns the new version."""
    if con.execute("SELECT count(*) FROM records WHERE record_id = ?", [record_id]).fetchone()[0] != 1:
        raise LookupError(f"no record {record_id}")
    with _WRITE_LOCK:
        _check(con, record_id, expected_version)
        add_review_decision(con, record_id, decision, reviewer, reason, edited_fields, datetime.now(timezone.utc))
        return decision_version(con, record_id)


def undo_decision(con: duckdb.DuckDBPyConnection, record_id: str, expected_version: str) -> dict:
    """Remove the record's latest decision (the record goes back to the queue or to its previous
    decision) if it is still the one the page showed; returns the removed decision."""
    with _WRITE_LOCK:
        rows = _check(con, record_id, expected_version)
        if not rows:
            raise DecisionConflict(f"record {record_id} has no decision to undo")
        last = rows[-1]
        con.execute("DELETE FROM review_decisions WHERE record_id = ? AND decision = ? AND reviewer = ? AND decided_at = ?",
                    [record_id, last["decision"], last["reviewer"], last["decided_at"]])
        return last


def last_decision_by(con: duckdb.DuckDBPyConnection, reviewer: str) -> dict | None:
    """This reviewer's most recent decision (what "undo" takes back), with the record's version."""
    rows = fetch_dicts(con, "SELECT record_id, decision, decided_at FROM review_decisions WHERE reviewer = ? "
                            "AND record_id IN (SELECT record_id FROM records) ORDER BY decided_at DESC LIMIT 1", [reviewer])
    if not rows:
        return None
    return rows[0] | {"version": decision_version(con, rows[0]["record_id"])}


def edited_fields(original: dict, submitted: dict[str, str]) -> dict:
    """The fields a reviewer changed. Text fields compare as text; other fields (MCQ options, chat
    messages) are edited as JSON and must parse. Unchanged fields are left out, so the export keeps
    exactly what the reviewer touched beside the original."""
    changed = {}
    for name, value in original.items():
        if name not in submitted:
            continue
        new = submitted[name].replace("\r\n", "\n")
        if isinstance(value, str):
            if new != value:
                changed[name] = new
            continue
        try:
            parsed = json.loads(new)
        except json.JSONDecodeError as error:
            raise ValueError(f"field {name!r} is not valid JSON: {error.msg} (line {error.lineno})") from None
        if parsed != value:
            changed[name] = parsed
    return changed
