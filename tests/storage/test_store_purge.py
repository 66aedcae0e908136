"""A document that stopped being a partition (deleted file) loses its rows and vectors, whichever
path noticed: the CLI's folder sync or the dataset asset after the folder sensor."""

from pathlib import Path

import numpy as np

from mbdg_assets.storage import warehouse
from mbdg_assets.enrich.chunking import chunk_document
from mbdg_assets.extract.extraction import extract_document
from mbdg_assets.storage.tables import purge_removed_documents, replace_chunks, store_document
from mbdg_assets.storage.vectors import VectorStore


def _add(con, store: VectorStore, folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    doc = extract_document(path)
    chunks = chunk_document(doc)
    store_document(con, name, doc)
    replace_chunks(con, name, chunks, ["t"] * len(chunks))
    rows = [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": name} for c in chunks]
    store.replace_document_chunks(name, rows, np.ones((len(rows), 384), dtype=np.float32))


def test_purge_removes_rows_and_vectors_of_vanished_documents(tmp_path: Path):
    store = VectorStore(tmp_path / "lancedb")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        _add(con, store, tmp_path, "kept.md", "# Kept\n\nThis document stays in the folder.")
        _add(con, store, tmp_path, "gone.md", "# Gone\n\nThis document was deleted from the folder.")
        assert purge_removed_documents(con, store, ["kept.md"]) == ["gone.md"]
        paths = {r[0] for r in con.execute("SELECT path FROM documents UNION ALL SELECT path FROM chunks").fetchall()}
        assert paths == {"kept.md"}
        assert purge_removed_documents(con, store, ["kept.md"]) == []
    assert store.count_chunks("gone.md") == 0 and store.count_chunks("kept.md") >= 1


def test_purge_shrinks_topics_and_drops_emptied_ones(tmp_path: Path):
    store = VectorStore(tmp_path / "lancedb")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        _add(con, store, tmp_path, "kept.md", "# Kept\n\nThis document stays.\n\n# More\n\nA second section.")
        _add(con, store, tmp_path, "gone.md", "# Gone\n\nDeleted.\n\n# Also gone\n\nDeleted too.\n\n# Last\n\nBye.")
        # topic 1 holds both documents' first chunks, topic 2 only gone.md's others
        con.execute("UPDATE chunks SET topic_id = CASE WHEN position = 0 OR path = 'kept.md' THEN 1 ELSE 2 END")
        sizes = dict(con.execute("SELECT topic_id, count(*) FROM chunks GROUP BY topic_id").fetchall())
        assert sizes == {1: 3, 2: 2}
        for topic_id, size in sizes.items():
            con.execute("INSERT INTO topics VALUES (?, ?, ?, ?, now())", [topic_id, f"t{topic_id}", [1.0, 0.0], size])
        purge_removed_documents(con, store, ["kept.md"])
        assert con.execute("SELECT topic_id, size FROM topics ORDER BY topic_id").fetchall() == [(1, 2)]


def test_the_old_chunk_table_with_text_is_dropped_so_its_documents_are_embedded_again(tmp_path: Path):
    import lancedb

    lancedb.connect(str(tmp_path / "lancedb")).create_table("chunks", [{"chunk_id": "c", "text": "t", "vector": [0.0, 1.0]}])
    store = VectorStore(tmp_path / "lancedb")
    assert "chunks" not in store.db.list_tables().tables and store.count_chunks("a.md") == 0


def test_a_document_is_stored_as_block_rows_and_read_back_identical(tmp_path: Path):
    from mbdg_assets.storage.incremental import ensure_versions_table, mark_extracted, unchanged_document
    from mbdg_assets.storage.tables import load_document

    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\nFirst paragraph.\n\n## Part\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    doc = extract_document(path)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        ensure_versions_table(con)
        store_document(con, "guide.md", doc)
        mark_extracted(con, "guide.md")
        assert con.execute("SELECT count(*) FROM blocks WHERE path = 'guide.md'").fetchone()[0] == len(doc.blocks) > 3
        back = load_document(con, "guide.md")
        assert back.text == doc.text and back.blocks == doc.blocks and back.title == doc.title
        assert unchanged_document(con, "guide.md", path, 10**6) is not None
        con.execute("DELETE FROM blocks")  # as in a warehouse from before blocks were rows: extract again
        assert unchanged_document(con, "guide.md", path, 10**6) is None
