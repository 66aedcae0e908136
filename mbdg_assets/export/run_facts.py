"""Facts about one export, gathered once and shown twice: in the signed manifest and in the data
card. Keeping one source means the card a person reads and the manifest a machine verifies can
never disagree about thresholds, counts or models."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
from collections import Counter
from pathlib import Path

import duckdb

from mbdg_assets.manifest.signed_manifest import describe_files
from mbdg_assets.export.coverage import corpus_coverage
from mbdg_assets.export.review_decisions import review_of
from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.enrich.embeddings import EMBEDDING_FACTS
from mbdg_assets.storage.tables import load_run_facts, load_stage_counts
from mbdg_assets.storage.warehouse import fetch_dicts

SELECTION_RULE = "highest hybrid reward among parsed candidates; ties go to the lower rank (earlier seed)"
GENERATION_KEYS = ("backend", "model", "model_digest", "endpoints", "prompt_version", "temperature", "k")


def machine_fingerprint() -> dict:
    """Enough to tell machines apart and reproduce the environment, nothing that identifies a person:
    the hostname is hashed, no user name or path is recorded."""
    return {"platform": platform.platform(), "machine": platform.machine(), "python": sys.version.split()[0],
            "implementation": platform.python_implementation(), "cpu_count": os.cpu_count(),
            "hostname_sha256": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16]}


def sources(con: duckdb.DuckDBPyConnection, paths: list[str] | None = None) -> list[dict]:
    """Documents behind the dataset with their SHA-256 (all documents when `paths` is None)."""
    query = "SELECT path, doc_id AS sha256, format, title, pages, chars FROM documents"
    if paths is None:
        return fetch_dicts(con, query + " ORDER BY path")
    return fetch_dicts(con, query + " WHERE path IN (SELECT unnest(?::VARCHAR[])) ORDER BY path", [paths])


def load_export_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every record with its latest review and the export set it belongs in, in export order."""
    return fetch_dicts(con, sql_text("export_records"))


def generation_parameters(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The distinct model settings behind the candidates (usually one), with their seed range."""
    settings: dict[str, dict] = {}
    for (text,) in con.execute("SELECT generation_json FROM candidates").fetchall():
        generation = json.loads(text)
        key = json.dumps({k: generation.get(k) for k in GENERATION_KEYS}, sort_keys=True)
        entry = settings.setdefault(key, json.loads(key) | {"seed_min": None, "seed_max": None, "candidates": 0})
        seed = generation.get("seed")
        if seed is not None:
            entry["seed_min"] = seed if entry["seed_min"] is None else min(entry["seed_min"], seed)
            entry["seed_max"] = seed if entry["seed_max"] is None else max(entry["seed_max"], seed)
        entry["candidates"] += 1
    return [settings[k] for k in sorted(settings)]


def siblings_by_winner(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """winner candidate_id -> every candidate of its target, by rank."""
    grouped: dict[str, list[dict]] = {}
    for row in fetch_dicts(con, sql_text("candidate_siblings")):
        grouped.setdefault(row.pop("winner_id"), []).append(row)
    return grouped


def selection_rationale(siblings: list[dict]) -> dict:
    """Why this candidate won: its rank and reward beside every sibling's (None = unparsed)."""
    winner = next((s for s in siblings if s["is_winner"]), None)
    return {"rule": SELECTION_RULE, "candidates": len(siblings),
            "winner_rank": winner["rank"] if winner else None,
            "winner_reward": round(winner["reward"], 4) if winner else None,
            "sibling_rewards": [round(s["reward"], 4) if s.get("error") is None and s.get("fields_json") else None
                                for s in siblings]}


def stage_pass_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per validator stage: records it let through without a reason, of all records, and why it
    flagged the others, as the latest validation counted them (the validation_stages table)."""
    counts = {}
    for stage, c in load_stage_counts(con).items():
        total = c["kept"] + c["flagged"]
        counts[stage] = {"passed": c["kept"], "of": total, "rate": round(c["kept"] / total, 4) if total else None,
                         "failed": c["failed"], "flagged": c["kinds"]}
    return counts


def funnel(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> dict:
    """Counts at each step, candidates to the exported training set."""
    counts = fetch_dicts(con, sql_text("candidate_funnel"))[0]
    decisions = Counter(r["decision"] for r in rows)
    exported = Counter(r["export_set"] for r in rows)
    return {**counts, "records": len(rows), "decisions": dict(sorted(decisions.items())),
            "export_sets": dict(sorted(exported.items())),
            "reviewed": dict(sorted(Counter(r["review_decision"] for r in rows if r.get("review_decision")).items()))}


def distribution(rows: list[dict]) -> list[dict]:
    """Records per source and topic: all validated, and those in the training set."""
    everything = Counter((r["paths"][0] if len(r["paths"]) else "", r["topic"] or "") for r in rows)
    kept = Counter((r["paths"][0] if len(r["paths"]) else "", r["topic"] or "") for r in rows if r["export_set"] == "dataset")
    return [{"source": source, "topic": topic, "records": n, "in_dataset": kept[(source, topic)]}
            for (source, topic), n in sorted(everything.items())]


def collect_facts(con: duckdb.DuckDBPyConnection, result, source_rows: list[dict], validation: dict, export: dict,
                  created_at: str, mbdg_version: str) -> dict:
    """Everything the data card shows and the manifest signs about one export (`result`: ExportResult),
    taken from the export's own result: each record's export set as the export labelled it (a
    surplus record under --records N stays surplus), its split, and what each file holds."""
    split_of = {line["record_id"]: line["split"] for line in result.dataset}
    validated_at = con.execute("SELECT max(validated_at) FROM records").fetchone()[0]
    return {
        "created_at": created_at, "mbdg_version": mbdg_version, "sources": source_rows,
        "generation": generation_parameters(con), "validation": validation, "export": export,
        "embedding": load_run_facts(con, EMBEDDING_FACTS),
        "funnel": funnel(con, result.rows), "stages": stage_pass_counts(con),
        "distribution": distribution(result.rows), "splits": result.split_sizes,
        "pairs": {"kept": result.pairs, "dropped": result.pairs_dropped},
        "files": [f.name for f in result.files],
        "written": {f.name: {"records": f.records, "record_ids": f.record_ids} for f in result.files},
        "records": record_entries(result.rows, result.siblings, split_of),
        "validated_at": validated_at.isoformat() if validated_at else None,
        "coverage": corpus_coverage(con, [s["path"] for s in source_rows]),
    }


def record_entries(rows: list[dict], siblings: dict[str, list[dict]], split_of: dict[str, str]) -> list[dict]:
    """Per record: scores, validator decision, where it was exported, why its candidate won, any review."""
    return [{"record_id": r["record_id"], "candidate_id": r["candidate_id"], "decision": r["decision"],
             "export_set": r["export_set"], "split": split_of.get(r["record_id"]), "score": r["score"],
             "stage_scores": json.loads(r["stage_scores_json"]), "reasons": list(r["reasons"]),
             "chunk_ids": list(r["chunk_ids"]), "selection": selection_rationale(siblings.get(r["candidate_id"], [])),
             "review": review_of(r, with_values=True)}
            for r in sorted(rows, key=lambda row: row["record_id"])]


def manifest_body(facts: dict, out_dir: Path, lineage: dict, created_at: str) -> dict:
    """The unsigned manifest: inputs, parameters, per-record rationale, lineage, machine, file hashes.
    Built from the export's facts (collect_facts); the files are hashed, not parsed again."""
    files = describe_files(out_dir, facts["files"], facts["written"])
    return {
        "created_at": created_at,
        "mbdg_version": facts["mbdg_version"],
        "sources": facts["sources"],
        "parameters": {"generation": facts["generation"], "embedding": facts.get("embedding"),
                       "validation": facts["validation"], "export": facts["export"]},
        "summary": {"funnel": facts["funnel"], "stages": facts["stages"], "split_sizes": facts["splits"],
                    "preference_pairs": facts["pairs"], "distribution": facts["distribution"]},
        "records": facts["records"],
        "lineage": lineage,
        "machine": machine_fingerprint(),
        "timestamps": {"records_validated_at": facts["validated_at"],
                       "dataset_exported_at": facts["created_at"], "manifest_signed_at": created_at},
        "files": files,
    }
