"""PDF structure: headings by font size and weight, ruled tables as whole Markdown tables, two
columns read column by column, page numbers kept, and pdfium's plain text when pdfminer fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from format_files import write_structured_pdf
from mbdg_assets.core.chunking import chunk_document, count_words
from mbdg_assets.core.extraction import extract_document
from mbdg_assets.core.formats import pdf as pdf_format

TABLE = "| Level | Minutes | Drop temperature |\n|---|---|---|\n| Light | 9 | 205 C |\n| Dark | 14 | 225 C |"


@pytest.fixture()
def structured(tmp_path: Path) -> Path:
    return write_structured_pdf(tmp_path / "handbook.pdf")


def test_headings_by_size_and_weight_with_levels(structured: Path) -> None:
    doc = extract_document(structured)
    headings = [(b.text, b.level, b.page, b.heading_path) for b in doc.blocks if b.kind == "heading"]
    assert headings == [
        ("# Roastery Handbook", 1, 1, ()),
        ("## Roast levels", 2, 1, ("Roastery Handbook",)),
        ("### Cooling", 3, 1, ("Roastery Handbook", "Roast levels")),  # bold at body size: below the sizes
        ("## Storage and shipping", 2, 2, ("Roastery Handbook",)),
    ]
    assert doc.title == "Roastery Handbook" and doc.pages == 2
    body = next(b for b in doc.blocks if b.text.startswith("Beans cool"))
    assert body.kind == "paragraph" and body.heading_path == ("Roastery Handbook", "Roast levels", "Cooling")
    for block in doc.blocks:
        assert doc.text[block.start:block.end] == block.text


def test_ruled_table_is_one_markdown_block_and_its_text_appears_once(structured: Path) -> None:
    doc = extract_document(structured)
    tables = [b for b in doc.blocks if b.kind == "table"]
    assert [t.text for t in tables] == [TABLE] and tables[0].page == 1
    assert doc.text.count("Drop temperature") == 1 and doc.text.count("225 C") == 1
    order = [b.text.split("\n")[0] for b in doc.blocks[:6]]
    assert order.index("The table lists the roast times per level.") < order.index(TABLE.split("\n")[0])


def test_two_columns_read_left_then_right(structured: Path) -> None:
    doc = extract_document(structured)
    left = [doc.text.index(f"Left column line {i} ") for i in range(8)]
    right = [doc.text.index(f"Right column line {i} ") for i in range(8)]
    assert left == sorted(left) and right == sorted(right) and left[-1] < right[0]
    assert doc.text.index("## Storage and shipping") < left[0]
    assert {b.page for b in doc.blocks if "column line" in b.text} == {2}


def test_chunks_carry_heading_paths_pages_and_a_whole_table(structured: Path) -> None:
    doc = extract_document(structured)
    chunks = chunk_document(doc)  # real tokenizer, default budget: the table is far below it
    with_table = [c for c in chunks if TABLE in c.text]
    assert len(with_table) == 1 and with_table[0].pages == (1,)
    assert with_table[0].heading_path == ("Roastery Handbook", "Roast levels")
    small = chunk_document(doc, 8, 40, count_tokens=count_words)
    assert sum(TABLE in c.text for c in small) == 1  # never cut, even over the 8-word target
    assert not any("| Light" in c.text and TABLE not in c.text for c in small)
    paths = {c.text.split("\n")[0]: (c.heading_path, c.pages) for c in small}
    assert paths["### Cooling"] == (("Roastery Handbook", "Roast levels", "Cooling"), (1,))
    assert paths["## Storage and shipping"] == (("Roastery Handbook", "Storage and shipping"), (2,))


def test_pdfminer_failure_falls_back_to_pdfium_text(structured: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes):
        raise ValueError("pdfminer could not parse this file")

    monkeypatch.setattr(pdf_format, "_plumber_pages", broken)
    doc = extract_document(structured)
    assert all(b.kind == "paragraph" for b in doc.blocks) and doc.pages == 2
    assert "Roastery Handbook" in doc.text and "Right column line 7" in doc.text
    assert {b.page for b in doc.blocks} == {1, 2}


def test_page_with_unmapped_glyphs_is_read_by_pdfium(structured: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pdf_format._plumber_pages

    def cid_on_page_two(data: bytes):
        pages = real(data)
        for item in pages[1]:
            item.text = "(cid:12)(cid:7)" if not item.table else item.text
        return pages

    monkeypatch.setattr(pdf_format, "_plumber_pages", cid_on_page_two)
    doc = extract_document(structured)
    assert "(cid:" not in doc.text and "Right column line 7" in doc.text  # page 2 from pdfium
    assert any(b.kind == "table" for b in doc.blocks)  # page 1 still from pdfplumber
