"""`mbdg lineage`: one record traced back to the candidates it beat, the chunk it came from and the
page and character span of the source document, so a reviewer can check it against the original."""

from __future__ import annotations

import json

import duckdb

from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.storage.warehouse import fetch_dicts


class LineageError(LookupError):
    """The record id matches no record, or more than one."""


def _record_row(con: duckdb.DuckDBPyConnection, record_id: str) -> dict:
    rows = fetch_dicts(con, sql_text("record_lineage"), {"record_id": record_id})
    if not rows:
        raise LineageError(f"no record {record_id!r} in the warehouse (ids are in dataset.jsonl and manifest.json)")
    if len(rows) > 1:
        raise LineageError(f"{record_id!r} matches more than one record; give more characters")
    return rows[0]


def _document_spans(row: dict) -> list[dict]:
    """Supporting spans (chunk offsets) as document offsets, with the text they cover."""
    text, offset = row.get("chunk_text") or "", row.get("start_char") or 0
    return [{"chunk_id": s["chunk_id"], "chunk_start": s["start"], "chunk_end": s["end"],
             "doc_start": offset + s["start"], "doc_end": offset + s["end"], "text": text[s["start"]:s["end"]]}
            for s in json.loads(row["supporting_spans_json"] or "[]")]


def _candidate(row: dict) -> dict:
    fields = json.loads(row["fields_json"]) if row["fields_json"] else None
    return {"candidate_id": row["candidate_id"], "rank": row["rank"], "winner": bool(row["is_winner"]),
            "reward": row["reward"], "reward_field": row["reward_field"], "reward_overall": row["reward_overall"],
            "error": row["error"], "instruction": (fields or {}).get("instruction"),
            "seed": json.loads(row["generation_json"] or "{}").get("seed")}


def trace_record(con: duckdb.DuckDBPyConnection, record_id: str) -> dict:
    """The record, its siblings with rewards, its stage scores, chunk, document, pages and spans."""
    row = _record_row(con, record_id)
    candidates = fetch_dicts(con, sql_text("target_candidates"), {"target_id": row["target_id"]}) if row["target_id"] else []
    reviews = fetch_dicts(con, sql_text("record_reviews"), {"record_id": row["record_id"]})
    return {
        "record_id": row["record_id"], "candidate_id": row["candidate_id"], "fields": json.loads(row["fields_json"]),
        "decision": row["decision"], "score": row["score"], "reasons": list(row["reasons"]),
        "stage_scores": json.loads(row["stage_scores_json"]), "generation": json.loads(row["generation_json"]),
        "candidates": [_candidate(c) for c in candidates],
        "chunk": {"chunk_id": row["chunk_id"], "position": row["position"], "topic": row["topic"],
                  "heading_path": list(row["heading_path"] or []), "pages": list(row["pages"] or []),
                  "start_char": row["start_char"], "end_char": row["end_char"]},
        "document": {"path": row["path"], "doc_id": row["doc_id"], "format": row["format"], "title": row["title"]},
        "supporting_spans": _document_spans(row),
        "reviews": [r | {"decided_at": str(r["decided_at"])} for r in reviews],
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_trace(trace: dict) -> str:
    """Readable lines for the terminal."""
    doc, chunk = trace["document"], trace["chunk"]
    pages = ", ".join(str(p) for p in chunk["pages"] if p) or "n/a"
    lines = [f"record {trace['record_id']}  ({trace['decision']}, score {trace['score']:.4f})",
             f"  instruction: {trace['fields'].get('instruction', '')}",
             "  stage scores: " + ", ".join(f"{k} {v:.3f}" for k, v in trace["stage_scores"].items())]
    lines += [f"  reason: {reason}" for reason in trace["reasons"]]
    lines += [f"document {doc['path']}  (sha256 {str(doc['doc_id'])[:16]}..., {doc['format']})",
              f"  chunk {chunk['chunk_id']}  #{chunk['position']}  {' > '.join(chunk['heading_path'])}",
              f"  page(s): {pages}  characters {chunk['start_char']}..{chunk['end_char']} of the extracted text"]
    lines += [f"  supports: chars {s['doc_start']}..{s['doc_end']}: {s['text'][:100]!r}" for s in trace["supporting_spans"]]
    lines += [f"candidates ({len(trace['candidates'])}, model {trace['generation'].get('model')}, "
              f"prompt {trace['generation'].get('prompt_version')}):"]
    for c in trace["candidates"]:
        mark = "*" if c["winner"] else " "
        what = c["error"] if c["error"] else c["instruction"]
        lines.append(f" {mark} rank {c['rank']} seed {c['seed']}  reward {_fmt(c['reward'])} "
                     f"(field {_fmt(c['reward_field'])}, overall {_fmt(c['reward_overall'])})  {str(what)[:80]}")
    lines += [f"review: {r['decision']} by {r['reviewer']} at {r['decided_at']}: {r['reason'] or ''}" for r in trace["reviews"]]
    return "\n".join(lines)
