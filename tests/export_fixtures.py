"""A small warehouse built by hand for the export tests: two documents, eight chunks, one target per
chunk with three candidates each (one malformed on some targets), and one record per target with
a mix of decisions. No model, no Dagster: it takes milliseconds."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from mbdg_assets.storage import warehouse
from mbdg_assets.storage.tables import replace_stage_counts
from mbdg_assets.validate.decisions import STAGES
from mbdg_assets.validate.stages import StageCounts

STAGE_OK = {"schema": 1.0, "distribution": 1.0, "dedup": 1.0, "grounding": 0.95, "novelty": 0.9}
DECISIONS = ["AUTO_APPROVE"] * 6 + ["REQUIRE_REVIEW", "AUTO_REJECT"]


def _chunk_text(doc: str, i: int) -> str:
    return f"Section {i} of {doc}. The roaster preheats to {180 + i} degrees before the first batch of the day."


def _generation(seed: int, rank: int, extra: dict | None = None) -> dict:
    return {"backend": "embedded", "model": "SmolLM2-135M-Instruct.Q4_1", "prompt_version": "instruction_pair@v1",
            "temperature": 0.8, "seed": seed + rank, "k": 3, **(extra or {})}


def _insert_document(con, path: str, doc_id: str, texts: list[str]) -> None:
    con.execute("INSERT INTO documents (path, doc_id, format, title, pages, chars, extracted_at) "
                "VALUES (?, ?, 'markdown', ?, 1, ?, ?)",
                [path, doc_id, path, sum(len(t) + 2 for t in texts), datetime.now(timezone.utc)])


def _candidates(con, target: str, chunk_id: str, doc_id: str, path: str, i: int, tag: str) -> str:
    """Three candidates; rewards fall with rank; rank 2 is malformed on odd targets. Returns the winner id."""
    rewards = [0.9, 0.8 if i % 3 else 0.88, 0.5]
    for rank, reward in enumerate(rewards):
        malformed = rank == 2 and i % 2 == 1
        fields = None if malformed else {"instruction": f"{tag}: what temperature in section {i}?",
                                         "input": "" if i % 2 else f"context {i}",
                                         "output": f"{180 + i} degrees" if rank == 0 else f"candidate {rank} answer {i}"}
        con.execute("INSERT INTO candidates (candidate_id, target_id, chunk_id, doc_id, path, schema_name, rank, raw, "
                    "fields_json, error, reward_field, reward_overall, reward, reward_detail_json, is_winner, generation_json, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 'instruction_pair', ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?)",
                    [f"{target}-c{rank}", target, chunk_id, doc_id, path, rank, json.dumps(fields) if fields else "{oops",
                     json.dumps(fields) if fields else None, "malformed answer: bad JSON" if malformed else None,
                     reward, reward, 0.0 if malformed else reward, rank == 0,
                     json.dumps(_generation(0, rank)), datetime.now(timezone.utc)])
    return f"{target}-c0"


def build_warehouse(path: Path, tag: str = "run") -> list[str]:
    """Fill the warehouse at `path`; returns the record ids in chunk order. `tag` changes the
    records' text (and so their ids), for tests that need two different runs."""
    record_ids = []
    with warehouse.connect(path) as con:
        for d, doc in enumerate(("a.md", "b.md")):
            doc_id = f"{d}" * 64
            texts = [_chunk_text(doc, i) for i in range(4)]
            _insert_document(con, doc, doc_id, texts)
            start = 0
            for i, text in enumerate(texts):
                n = d * 4 + i
                chunk_id = f"chunk{n:02d}"
                con.execute("INSERT INTO chunks (chunk_id, doc_id, path, format, position, text, heading_path, pages, "
                            "start_char, end_char, content_hash, topic) VALUES (?, ?, ?, 'markdown', ?, ?, ?, ?, ?, ?, ?, ?)",
                            [chunk_id, doc_id, doc, i, text, ["Roasting", f"Step {i}"], [1], start, start + len(text),
                             f"h{n}", "Roasting" if i < 2 else "Cleaning"])
                winner = _candidates(con, f"t{n}", chunk_id, doc_id, doc, n, tag)
                fields = json.loads(con.execute("SELECT fields_json FROM candidates WHERE candidate_id = ?", [winner]).fetchone()[0])
                record_id = f"{tag}-rec{n:02d}"
                decision = DECISIONS[n]
                reasons = [] if decision == "AUTO_APPROVE" else ["grounding: only 40% of the answer is supported by the source"]
                con.execute("INSERT INTO records (record_id, candidate_id, schema_name, fields_json, chunk_ids, doc_ids, paths, "
                            "topic, stage_scores_json, score, decision, reasons, supporting_spans_json, generation_json, "
                            "duplicate_of, validated_at) VALUES (?, ?, 'instruction_pair', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                            [record_id, winner, json.dumps(fields), [chunk_id], [doc_id], [doc],
                             "Roasting" if i < 2 else "Cleaning", json.dumps(STAGE_OK),
                             0.95 if decision == "AUTO_APPROVE" else (0.8 if decision == "REQUIRE_REVIEW" else 0.5),
                             decision, reasons, json.dumps([{"chunk_id": chunk_id, "start": 0, "end": 20}]),
                             json.dumps(_generation(0, 0, {"candidate_rank": 0, "reward": 0.9})), datetime.now(timezone.utc)])
                record_ids.append(record_id)
                start += len(text) + 2
        # what validation counts alongside the records it writes: grounding flagged the two non-approved ones
        counts = {stage: StageCounts(kept=len(DECISIONS)) for stage in STAGES}
        counts["grounding"] = StageCounts(kept=6, flagged=2, failed=1, kinds=Counter(unsupported_claim=2))
        replace_stage_counts(con, counts)
    return record_ids


def export_and_sign(root: Path, tag: str = "run", options=None, reviews=None):
    """Build a warehouse under `root`, apply `reviews(con, record_ids)`, export, write the data card,
    sign the manifest with the key in `root.parent / "keys"` (shared by sibling runs). Returns (out, key, ids)."""
    from mbdg_assets.export.data_card import DATA_CARD_NAME, render_data_card
    from mbdg_assets.export.record_files import ExportOptions, export_dataset
    from mbdg_assets.manifest.signed_manifest import atomic_write_text, write_signed_manifest
    from mbdg_assets.export.run_facts import collect_facts, manifest_body, sources
    from mbdg_assets.manifest.signing import load_or_create_key

    options = options or ExportOptions(eval_fraction=0.25)
    ids = build_warehouse(root / "warehouse.duckdb", tag)
    out = root / "out"
    with warehouse.connect(root / "warehouse.duckdb") as con:
        if reviews:
            reviews(con, ids)
        result = export_dataset(con, out, options)
        facts = collect_facts(con, result, sources(con), {"approve_threshold": 0.9, "review_threshold": 0.7,
                                                           "grounding_gate": 0.6},
                              {"eval_fraction": options.eval_fraction, "split_seed": options.split_seed,
                               "dpo_min_gap": options.dpo_min_gap}, "2026-11-23T00:00:00+00:00", "0.1.0")
        atomic_write_text(out / DATA_CARD_NAME, render_data_card(facts))
        facts["files"].append(DATA_CARD_NAME)
    body = manifest_body(facts, out, {"run_id": f"{tag}-dagster-run"}, "2026-11-23T00:00:01+00:00")
    key = load_or_create_key(root.parent / "keys")
    write_signed_manifest(out, body, key)
    return out, key, ids
