"""Reading and writing the pipeline's tables. Every write for a document first removes that
document's old rows, so re-running a partition replaces its state instead of adding to it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb

from mbdg_assets.enrich.chunking import Chunk
from mbdg_assets.extract.document import BLOCK_SEPARATOR, Block, ExtractedDocument
from mbdg_assets.generate.candidates import Candidate
from mbdg_assets.storage.incremental import ensure_columns
from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.enrich.topics import release_chunks
from mbdg_assets.validate.decisions import STAGES
from mbdg_assets.validate.stages import StageCounts
from mbdg_assets.validate.validator import ValidatedRecord
from mbdg_assets.storage.warehouse import fetch_dicts, insert_rows

PER_DOCUMENT_TABLES = ("documents", "blocks", "chunks", "candidates")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def remove_document(con: duckdb.DuckDBPyConnection, path: str) -> None:
    for table in PER_DOCUMENT_TABLES:
        con.execute(f"DELETE FROM {table} WHERE path = ?", [path])


def purge_removed_documents(con: duckdb.DuckDBPyConnection, store, current_paths: list[str]) -> list[str]:
    """Rows and vectors of documents that are no longer partitions (a deleted file, whether the
    CLI or the folder sensor noticed): removed, so no stale chunk feeds retrieval or the dataset;
    their chunks leave their topic clusters first, so topic sizes count only present chunks."""
    stale = [row[0] for row in con.execute(
        "SELECT DISTINCT path FROM (SELECT path FROM documents UNION SELECT path FROM chunks) "
        "WHERE path NOT IN (SELECT unnest(?::VARCHAR[]))", [current_paths]).fetchall()]
    for path in stale:
        release_chunks(con, path)
        remove_document(con, path)
        store.delete_document(path)
    return sorted(stale)


def record_extraction_error(con: duckdb.DuckDBPyConnection, path: str, code: str, reason: str) -> None:
    """Keep the error; drop the document's earlier output so the dataset reflects the file as it is."""
    remove_document(con, path)
    con.execute("INSERT INTO extraction_errors VALUES (?, ?, ?, ?)", [path, code, reason, _now()])


def store_document(con: duckdb.DuckDBPyConnection, path: str, doc: ExtractedDocument) -> None:
    """The document's header row and one row per block (its text is not stored again: the blocks
    joined by BLOCK_SEPARATOR are the text)."""
    ensure_columns(con, "documents", {"parser": "VARCHAR"})  # warehouses made before the fallback chain
    for table in ("documents", "blocks"):
        con.execute(f"DELETE FROM {table} WHERE path = ?", [path])
    con.execute("INSERT INTO documents (path, doc_id, format, title, pages, chars, parser, extracted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [path, doc.doc_id, doc.format, doc.title, doc.pages, len(doc.text), doc.parser, _now()])
    rows = [[path, i, b.kind, b.text, list(b.heading_path), b.page, b.start, b.end, b.level] for i, b in enumerate(doc.blocks)]
    insert_rows(con, "INSERT INTO blocks", rows)


def load_document(con: duckdb.DuckDBPyConnection, path: str) -> ExtractedDocument:
    row = con.execute("SELECT doc_id, format, title, pages, parser FROM documents WHERE path = ?", [path]).fetchone()
    if row is None:
        raise LookupError(f"{path}: not extracted yet (materialize source_documents for it first)")
    doc_id, fmt, title, pages, parser = row
    blocks = tuple(Block(kind, text, tuple(heading_path), page, start, end, level) for kind, text, heading_path, page, start, end, level
                   in con.execute("SELECT kind, text, heading_path, page, start_char, end_char, level FROM blocks "
                                  "WHERE path = ? ORDER BY position", [path]).fetchall())
    return ExtractedDocument(doc_id, path, fmt, BLOCK_SEPARATOR.join(b.text for b in blocks), blocks, pages, title,
                            parser or "native")


CHUNK_COLUMNS = ("chunk_id", "doc_id", "path", "format", "position", "text", "heading_path", "pages",
                 "start_char", "end_char", "content_hash", "topic")
ENRICHMENT_COLUMNS = ("key_phrases", "entities", "entity_types", "topic_id", "topic_label", "doc_type")


def replace_chunks(con: duckdb.DuckDBPyConnection, path: str, chunks: list[Chunk], topics: list[str],
                   enrichment: list[dict] | None = None) -> None:
    """``enrichment`` (optional, one dict per chunk) fills the ENRICHMENT_COLUMNS; missing keys stay NULL."""
    con.execute("DELETE FROM chunks WHERE path = ?", [path])
    extra = enrichment or [{} for _ in chunks]
    rows = [
        [c.chunk_id, c.doc_id, path, c.format, c.position, c.text, list(c.heading_path), list(c.pages),
         c.start, c.end, c.content_hash, topic] + [more.get(k) for k in ENRICHMENT_COLUMNS]
        for c, topic, more in zip(chunks, topics, extra)
    ]
    if rows:
        columns = CHUNK_COLUMNS + ENRICHMENT_COLUMNS
        insert_rows(con, f"INSERT OR REPLACE INTO chunks ({', '.join(columns)})", rows)


def load_chunks(con: duckdb.DuckDBPyConnection, path: str) -> list[dict]:
    return fetch_dicts(con, "SELECT * FROM chunks WHERE path = ? ORDER BY position", [path])


def replace_candidates(con: duckdb.DuckDBPyConnection, path: str, doc_id: str, schema_name: str,
                       candidates: list[Candidate]) -> None:
    con.execute("DELETE FROM candidates WHERE path = ?", [path])
    rows = [
        [c.candidate_id, c.target_id, c.chunk_id, doc_id, path, schema_name, c.rank, c.raw,
         json.dumps(c.fields, ensure_ascii=False) if c.fields is not None else None, c.error,
         c.reward_field, c.reward_overall, c.reward, json.dumps(c.detail), c.is_winner,
         json.dumps(c.generation), _now()]
        for c in candidates
    ]
    insert_rows(con, "INSERT OR REPLACE INTO candidates", rows)


def load_winners(con: duckdb.DuckDBPyConnection, paths: list[str]) -> list[dict]:
    """The winning candidate of every target of the given documents, with its chunk row."""
    rows = fetch_dicts(
        con,
        """SELECT c.candidate_id, c.schema_name, c.fields_json, c.reward, c.generation_json, k.*
           FROM candidates c JOIN chunks k USING (chunk_id)
           WHERE c.is_winner AND c.path IN (SELECT unnest(?::VARCHAR[]))
           ORDER BY c.candidate_id""",
        [paths],
    )
    winners = [
        {"candidate_id": r["candidate_id"], "schema_name": r["schema_name"], "fields": json.loads(r["fields_json"]),
         "reward": r["reward"], "generation": json.loads(r["generation_json"]),
         "chunk": {k: r[k] for k in CHUNK_COLUMNS}}
        for r in rows
    ]
    partner_ids = sorted({w["generation"]["partner_chunk_id"] for w in winners if w["generation"].get("partner_chunk_id")})
    if partner_ids:
        partners = {r["chunk_id"]: {k: r[k] for k in CHUNK_COLUMNS} for r in fetch_dicts(
            con, "SELECT * FROM chunks WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))", [partner_ids])}
        for winner in winners:
            partner = partners.get(winner["generation"].get("partner_chunk_id"))
            if partner is not None:
                winner["partner"] = partner  # a multi-hop record: grounded in both chunks
    return winners


def replace_records(con: duckdb.DuckDBPyConnection, records: list[ValidatedRecord]) -> None:
    """The records table always holds the latest validation of the current dataset."""
    con.execute("DELETE FROM records")
    rows = [
        [r.record_id, r.candidate_id, r.schema_name, json.dumps(r.fields, ensure_ascii=False), r.chunk_ids, r.doc_ids,
         r.paths, r.topic, json.dumps(r.stage_scores), r.score, r.decision, r.reasons,
         json.dumps(r.supporting_spans), json.dumps(r.generation), r.duplicate_of, _now()]
        for r in records
    ]
    insert_rows(con, "INSERT INTO records", rows)


def replace_stage_counts(con: duckdb.DuckDBPyConnection, counts: dict[str, StageCounts]) -> None:
    """What each validation stage kept and flagged in the latest validation (read by the data card
    and the manifest)."""
    con.execute("DELETE FROM validation_stages")
    rows = [[name, c.kept, c.flagged, c.failed, json.dumps(c.as_dict()["kinds"]), _now()] for name, c in counts.items()]
    insert_rows(con, "INSERT INTO validation_stages", rows)


def load_stage_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per stage, in stage order: kept, flagged, failed and the flagged kinds."""
    rows = {r["stage"]: r for r in fetch_dicts(con, "SELECT * FROM validation_stages")}
    return {stage: {"kept": r["kept"], "flagged": r["flagged"], "failed": r["failed"], "kinds": json.loads(r["kinds_json"])}
            for stage in STAGES if (r := rows.get(stage))}


def record_run_facts(con: duckdb.DuckDBPyConnection, phase: str, facts: dict) -> None:
    """A phase's facts for later phases to read (the validation settings, the export's result):
    written once here instead of travelling through Dagster metadata and run config."""
    con.execute("INSERT OR REPLACE INTO run_facts VALUES (?, ?, ?)", [phase, json.dumps(facts, ensure_ascii=False, default=str), _now()])


def load_run_facts(con: duckdb.DuckDBPyConnection, phase: str) -> dict | None:
    row = con.execute("SELECT facts_json FROM run_facts WHERE phase = ?", [phase]).fetchone()
    return json.loads(row[0]) if row else None


def decision_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {d: n for d, n in con.execute(sql_text("decision_counts")).fetchall()}


def record_plan_sizes(con: duckdb.DuckDBPyConnection, path: str, sizes: list[int]) -> None:
    """Written by the candidates asset when it plans a document (planning.pass_sizes)."""
    con.execute("INSERT OR REPLACE INTO plan_sizes VALUES (?, ?, ?)", [path, sizes, _now()])


def load_plan_sizes(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, list[int]]:
    """The recorded pass sizes of these documents; a document never planned has none."""
    rows = con.execute("SELECT path, sizes FROM plan_sizes WHERE path IN (SELECT unnest($p::VARCHAR[]))",
                       {"p": paths}).fetchall()
    return {path: list(sizes) for path, sizes in rows}

