"""How much of the corpus the approved records cover: the facts the planner found (generate/facts.py)
that an approved record aims at, the topics (embedding clusters of chunks) with at least one
approved record, and the biggest topics nobody asked about yet. Shown in the run summary and the
data card, so a user sees what the dataset leaves out, not only how big it is."""

from __future__ import annotations

import json
from collections import Counter

import duckdb

from mbdg_assets.generate.facts import document_facts
from mbdg_assets.storage.warehouse import fetch_dicts

UNCOVERED_SHOWN = 3


def corpus_coverage(con: duckdb.DuckDBPyConnection, paths: list[str] | None = None) -> dict:
    """Coverage of the current documents (all when `paths` is None) by AUTO_APPROVE records:
    {facts, facts_covered, topics, topics_covered, uncovered_topics: [{topic, facts}] biggest first}."""
    chunks = fetch_dicts(con, "SELECT * FROM chunks ORDER BY path, position")
    if paths is not None:
        wanted = set(paths)
        chunks = [c for c in chunks if c["path"] in wanted]
    by_document: dict[str, list[dict]] = {}
    for chunk in chunks:  # grouped in one pass: a scan per document was quadratic in the corpus
        by_document.setdefault(chunk["path"], []).append(chunk)
    facts_by_chunk: dict[str, int] = {}
    fact_ids: set[str] = set()
    for document_chunks in by_document.values():
        for chunk_id, facts in document_facts(document_chunks).items():
            facts_by_chunk[chunk_id] = len(facts)
            fact_ids.update(f.fact_id for f in facts)
    topic_of = {c["chunk_id"]: c.get("topic_label") or c.get("topic") or "(no topic)" for c in chunks}
    approved = con.execute("SELECT chunk_ids, generation_json FROM records WHERE decision = 'AUTO_APPROVE'").fetchall()
    covered_facts = {json.loads(g).get("fact_id") for _ids, g in approved} & fact_ids
    covered_topics = {topic_of[c] for ids, _g in approved for c in ids if c in topic_of}
    size = Counter()
    for chunk_id, topic in topic_of.items():
        size[topic] += max(facts_by_chunk.get(chunk_id, 0), 1)
    uncovered = sorted((t for t in size if t not in covered_topics), key=lambda t: (-size[t], t))
    return {"facts": len(fact_ids), "facts_covered": len(covered_facts), "topics": len(size),
            "topics_covered": len(covered_topics),
            "uncovered_topics": [{"topic": t, "facts": size[t]} for t in uncovered[:UNCOVERED_SHOWN]]}


def coverage_line(coverage: dict) -> str:
    """One line for the run summary."""
    line = (f"coverage: {coverage['facts_covered']} of {coverage['facts']} facts, {coverage['topics_covered']} of "
            f"{coverage['topics']} topics have an approved record")
    if coverage["uncovered_topics"]:
        line += "; biggest uncovered: " + ", ".join(f"{u['topic']} ({u['facts']} facts)" for u in coverage["uncovered_topics"])
    return line
