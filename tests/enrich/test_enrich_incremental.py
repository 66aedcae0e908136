"""Enrichment columns, topic clusters, the full-text index, and incremental re-runs: over a
corpus of 20 documents (one per format plus extras), adding one document parses and embeds that
document only; deleting one removes its chunks and vectors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from format_files import write_corpus, write_structured_pdf
from mbdg_assets.enrich import chunking
from mbdg_assets.extract import extraction
from mbdg_assets.storage import incremental
from mbdg_assets.enrich.embeddings import Embedder
from mbdg_assets.enrich.annotate import document_type, entities, key_phrases
from mbdg_assets.storage.project import ProjectPaths
from mbdg_assets.enrich.topics import Topics, assign
from mbdg_assets.storage.vectors import CHUNKS_TABLE, VectorStore
from mbdg_assets.defs.enrich import ChunkingConfig, enrich_documents, enrichment_result
from mbdg_assets.defs.extract import extract_documents, extraction_result
from mbdg_assets.cli.run import sync_partitions
from resources import ProjectResource, VectorStoreResource, WarehouseResource

DIM = 384
THEMES = {"coffee": "Coffee beans roast grinder espresso crema barista", "ships": "Harbour ships dock cargo crane pier"}


def fake_vector(text: str) -> np.ndarray:
    """Deterministic stand-in for all-MiniLM-L6-v2: texts sharing a theme point the same way."""
    theme = "coffee" if any(w in text.lower() for w in ("coffee", "bean", "roast", "grinder", "arabica")) else "other"
    base = np.random.default_rng(int(hashlib.sha256(theme.encode()).hexdigest()[:8], 16)).normal(size=DIM)
    noise = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)).normal(size=DIM)
    vector = base + 0.3 * noise
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class Counter:
    def __init__(self) -> None:
        self.parsed: list[str] = []
        self.embedded: list[int] = []


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Count every parser call (through the dispatch table) and every embedder call."""
    counter = Counter()
    formats = []
    for fmt in extraction._FORMATS:
        def wrapped(path, data, *rest, _inner=fmt.extract):
            counter.parsed.append(Path(path).name)
            return _inner(path, data, *rest)
        formats.append(extraction._Format(fmt.name, fmt.suffixes, wrapped, fmt.check_magic, fmt.nested))
    monkeypatch.setattr(extraction, "_FORMATS", tuple(formats))
    monkeypatch.setattr(extraction, "_BY_SUFFIX", {s: f for f in formats for s in f.suffixes})

    def embed(self, texts):
        counter.embedded.append(len(texts))
        return np.stack([fake_vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    monkeypatch.setattr(Embedder, "embed", embed)
    return counter


def materialize_all(docs: Path, project: Path, instance: dg.DagsterInstance,
                    config: ChunkingConfig | None = None) -> list[str]:
    """Sync partitions like `mbdg run`, then extract and enrich every partition with the document
    step's own functions (the same code as a Dagster run, without ~1 s of run bookkeeping each)."""
    paths = ProjectPaths(project)
    present = sync_partitions(instance, docs, paths)
    # parses are counted in this process: no worker process per file here
    project_resource = ProjectResource(project_dir=str(project), docs_dir=str(docs), isolate_extraction=False)
    warehouse = WarehouseResource(path=str(paths.warehouse))
    vectors = VectorStoreResource(uri=str(paths.lancedb))
    failed = []
    for key in present:
        try:
            extraction_result([key], extract_documents([key], project_resource, warehouse))
            enrichment_result([key], enrich_documents([key], config or ChunkingConfig(), warehouse, vectors))
        except dg.Failure:
            failed.append(key)
    return failed


def make_corpus(docs: Path) -> None:
    write_corpus(docs)
    for n in range(5):  # 15 formats + 5 more Markdown files = 20 documents
        (docs / f"extra-{n}.md").write_text(f"# Extra {n}\n\nThe harbour crane {n} lifts cargo onto ship {n}.\n")


def test_adding_one_document_does_that_documents_work_only(tmp_path: Path, counted: Counter) -> None:
    docs, project = tmp_path / "docs", tmp_path / "project"
    make_corpus(docs)
    with dg.instance_for_test() as instance:
        assert materialize_all(docs, project, instance) == []
        assert len(counted.parsed) >= 20 and len(counted.embedded) == 20
        counted.parsed.clear(), counted.embedded.clear()

        (docs / "new.md").write_text("# New\n\nThe grinder needs new burrs every 500 kg of beans.\n")
        assert materialize_all(docs, project, instance) == []  # 21 partitions run, one does work
        assert counted.parsed == ["new.md"] and counted.embedded == [1]

        counted.parsed.clear(), counted.embedded.clear()
        (docs / "extra-0.md").write_text("# Extra 0\n\nChanged text about the pier.\n")
        (docs / "new.md").unlink()
        materialize_all(docs, project, instance)
        assert counted.parsed == ["extra-0.md"] and counted.embedded == [1]
    store = VectorStore(ProjectPaths(project).lancedb)
    assert store.count_chunks("new.md") == 0 and store.count_chunks("extra-1.md") == 1
    with duckdb.connect(str(ProjectPaths(project).warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM chunks WHERE path = 'new.md'").fetchone()[0] == 0
        rows = con.execute("SELECT path, doc_type, topic_id, topic_label, key_phrases, entities FROM chunks").fetchall()
        assert len({r[0] for r in rows}) == 20 and all(r[1] and r[2] and r[3] and r[4] is not None for r in rows)
        types = dict(con.execute("SELECT path, any_value(doc_type) FROM chunks GROUP BY path").fetchall())
        topics = con.execute("SELECT count(*) FROM topics").fetchone()[0]
    assert types["supplier.eml"] == "email" and types["roadmap.pptx"] == "slides" and types["inventory.xlsx"] == "spreadsheet"
    assert 1 < topics < len(rows)  # clusters, not one per chunk
    # chunk text is stored once, in the warehouse: LanceDB holds ids and vectors, no text, no full-text index
    table = store.db.open_table(CHUNKS_TABLE)
    assert "text" not in table.schema.names and table.list_indices() == []
    assert table.count_rows() == len(rows)


def test_key_phrases_entities_and_document_type() -> None:
    text = ("Ana Silva opened the Lisbon roastery on 3 March 2026. The green coffee warehouse holds 60 kg; "
            "revenue grew 12% to 1,200 EUR. Write to ana@example.com.")
    phrases = key_phrases(text)
    assert any(p.startswith("green coffee warehouse") for p in phrases) and len(phrases) <= 5
    found, kinds = entities(text)
    pairs = dict(zip(found, kinds))
    assert pairs["Ana Silva"] == "NAME" and pairs["Lisbon"] == "NAME" and pairs["3 March 2026"] == "DATE"
    assert pairs["12%"] == "PERCENT" and pairs["1,200 EUR"] == "MONEY" and pairs["ana@example.com"] == "EMAIL"
    assert pairs["60 kg"] == "QUANTITY" and "The" not in pairs and "March" not in pairs
    assert document_type("msg", "", "") == "email"
    assert document_type("markdown", "Incident policy", "Staff must report. Managers shall act. It is required.") == "policy"
    assert document_type("markdown", "Notes", "Hello there.") == "article"


def test_topic_assignment_is_stable_and_grows_with_new_themes() -> None:
    topics = Topics()
    coffee = [fake_vector(f"coffee roast {n}") for n in range(3)]
    first = assign(topics, np.stack(coffee), [("coffee roast",)] * 3, ["Coffee"] * 3, [None] * 3)
    assert {t for t, _ in first} == {1} and first[0][1] == "coffee roast"
    again = assign(topics, np.stack(coffee), [("x",)] * 3, ["X"] * 3, [1, 1, 1])
    assert again == first and topics.sizes == [3]
    ships = assign(topics, np.stack([fake_vector("harbour pier")]), [("harbour pier", "cargo")], ["Ships"], [None])
    assert ships == [(2, "harbour pier / cargo")]


def test_a_warehouse_from_before_enrichment_gains_its_columns() -> None:
    from mbdg_assets.storage.incremental import ENRICHMENT_COLUMN_TYPES, ensure_enrichment_columns

    con = duckdb.connect()
    con.execute("CREATE TABLE chunks (chunk_id VARCHAR PRIMARY KEY, path VARCHAR, topic VARCHAR)")
    ensure_enrichment_columns(con)
    ensure_enrichment_columns(con)  # idempotent
    columns = [row[0] for row in con.execute("DESCRIBE chunks").fetchall()]
    assert columns == ["chunk_id", "path", "topic", *ENRICHMENT_COLUMN_TYPES]


def test_extractor_or_chunking_change_redoes_unchanged_files(tmp_path: Path, counted: Counter,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    docs, project = tmp_path / "docs", tmp_path / "project"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nThe grinder needs new burrs every 500 kg of coffee beans.\n")
    write_structured_pdf(docs / "handbook.pdf")

    def run(config: ChunkingConfig | None = None) -> tuple[list[str], int]:
        counted.parsed.clear(), counted.embedded.clear()
        assert materialize_all(docs, project, instance, config) == []
        return sorted(counted.parsed), len(counted.embedded)

    def topic_sizes_match_chunks() -> bool:
        with duckdb.connect(str(ProjectPaths(project).warehouse), read_only=True) as con:
            return con.execute("SELECT (SELECT sum(size) FROM topics) = (SELECT count(*) FROM chunks)").fetchone()[0]

    with dg.instance_for_test() as instance:
        assert run() == (["guide.md", "handbook.pdf"], 2)
        assert run() == ([], 0)  # same bytes, same code, same settings: nothing to do
        monkeypatch.setattr(incremental, "EXTRACTOR_VERSION", "next")
        assert run() == (["guide.md", "handbook.pdf"], 0)  # parsed again; same text, so same chunks
        assert run() == ([], 0)
        assert run(ChunkingConfig(target_tokens=20, max_tokens=60)) == ([], 2)  # re-chunked and re-embedded
        assert topic_sizes_match_chunks()  # the replaced chunks left their topics
        assert run(ChunkingConfig(target_tokens=20, max_tokens=60)) == ([], 0)
        monkeypatch.setattr(chunking, "CHUNKER_VERSION", "next")
        assert run(ChunkingConfig(target_tokens=20, max_tokens=60)) == ([], 2)
        assert topic_sizes_match_chunks()
