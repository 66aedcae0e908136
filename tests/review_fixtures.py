"""A warehouse for the review-queue tests, built by hand in milliseconds: two documents, one chunk
and one target (three candidates) per record, four REQUIRE_REVIEW records of known uncertainty,
one of them carrying `<script>` in its fields and source text, plus one auto-approved and one
auto-rejected record."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from mbdg_assets.storage import warehouse

SCRIPT = "<script>alert(1)</script>"
EVEN = {"schema": 0.85, "distribution": 0.85, "dedup": 0.85, "grounding": 0.85, "novelty": 0.85}
# record id -> (doc, score, decision, stage scores, topic, reasons)
RECORDS = {
    "rev-near": ("a.md", 0.89, "REQUIRE_REVIEW", EVEN | {"grounding": 0.9}, "Roasting",
                 ["novelty: close to an earlier record (Jaccard 0.61)"]),
    "rev-split": ("a.md", 0.80, "REQUIRE_REVIEW", EVEN | {"schema": 1.0, "grounding": 0.3}, "Roasting",
                  ["grounding: only 40% of the answer is supported by the source"]),
    "rev-calm": ("b.md", 0.80, "REQUIRE_REVIEW", EVEN | {"schema": 0.8}, "Cleaning",
                 ["novelty: close to an earlier record (Jaccard 0.55)"]),
    "rev-xss": ("b.md", 0.74, "REQUIRE_REVIEW", EVEN | {"grounding": 0.7}, "Security",
                ["grounding: the answer names " + SCRIPT]),
    "auto-ok": ("a.md", 0.95, "AUTO_APPROVE", EVEN | {"grounding": 1.0}, "Roasting", []),
    "auto-no": ("b.md", 0.50, "AUTO_REJECT", EVEN | {"grounding": 0.2}, "Cleaning", ["grounding: below the gate"]),
}
REVIEW_IDS = ["rev-near", "rev-split", "rev-calm", "rev-xss"]


def _text(record_id: str) -> str:
    extra = f" Never paste {SCRIPT} into the console." if record_id == "rev-xss" else ""
    return f"Passage for {record_id}. The roaster preheats to 200 degrees before the first batch.{extra} Clean the drum weekly."


def _fields(record_id: str, rank: int) -> dict:
    question = f"What does {record_id} say about preheating?" + (f" {SCRIPT}" if record_id == "rev-xss" else "")
    return {"instruction": question if rank == 0 else f"{question} (variant {rank})", "input": "",
            "output": "The roaster preheats to 200 degrees." if rank == 0 else f"Variant answer {rank}."}


def _insert_candidates(con, record_id: str, chunk_id: str, doc_id: str, doc: str) -> str:
    now = datetime.now(timezone.utc)
    for rank, reward in enumerate((0.84, 0.79, None)):
        fields = None if reward is None else _fields(record_id, rank)
        con.execute("INSERT INTO candidates VALUES (?, ?, ?, ?, ?, 'instruction_pair', ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?)",
                    [f"{record_id}-c{rank}", f"t-{record_id}", chunk_id, doc_id, doc, rank,
                     json.dumps(fields) if fields else "{oops", json.dumps(fields) if fields else None,
                     None if fields else "malformed answer: bad JSON", reward and reward + 0.02, reward and reward - 0.05,
                     reward or 0.0, rank == 0, json.dumps({"seed": rank, "model": "fake"}), now])
    return f"{record_id}-c0"


def build_review_warehouse(path: Path) -> Path:
    """Fill the warehouse at `path` and return it."""
    now = datetime.now(timezone.utc)
    with warehouse.connect(path) as con:
        for doc in ("a.md", "b.md"):
            con.execute("INSERT INTO documents VALUES (?, ?, 'markdown', ?, 2, 100, ?, 'native')", [doc, doc * 8, doc, now])
        for n, (record_id, (doc, score, decision, stages, topic, reasons)) in enumerate(RECORDS.items()):
            chunk_id, text = f"chunk-{record_id}", _text(record_id)
            con.execute("INSERT INTO chunks (chunk_id, doc_id, path, format, position, text, heading_path, pages, start_char, "
                        "end_char, content_hash, topic) VALUES (?, ?, ?, 'markdown', ?, ?, ?, ?, ?, ?, ?, ?)",
                        [chunk_id, doc * 8, doc, n, text, [topic, "Step"], [n % 2 + 1], n * 200, n * 200 + len(text), f"h{n}", topic])
            winner = _insert_candidates(con, record_id, chunk_id, doc * 8, doc)
            start = text.index("The roaster")
            spans = [{"chunk_id": chunk_id, "start": start, "end": start + len("The roaster preheats to 200 degrees")}]
            con.execute("INSERT INTO records VALUES (?, ?, 'instruction_pair', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                        [record_id, winner, json.dumps(_fields(record_id, 0)), [chunk_id], [doc * 8], [doc], topic,
                         json.dumps(stages), score, decision, reasons, json.dumps(spans),
                         json.dumps({"backend": "fake", "model": "fake", "k": 3, "candidate_rank": 0}), now])
    return path
