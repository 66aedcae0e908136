"""Chunking: offsets exact, structure respected, sizes bounded, overlap snapped, ids stable."""

from __future__ import annotations

import ctypes
import hashlib
import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from mbdg_assets.enrich.chunking import Chunk, chunk_document, count_words, token_counter
from mbdg_assets.extract.document import ExtractedDocument
from mbdg_assets.extract.extraction import extract_document

MARKDOWN = """# A

Intro paragraph under A.

## B

Paragraph under B.

```python
# this is a comment, not a heading
x = 1

y = 2
```

| Name | Score |
|------|-------|
| ann  | 3     |

- first item
- second item

# C

Closing words under C.
"""


def write_pdf(path: Path, pages: list[str]) -> Path:
    """A real one-line-per-page text PDF built with pypdfium2's raw API."""
    pdf = pdfium.PdfDocument.new()
    for line in pages:
        page = pdf.new_page(612, 792)
        obj = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(12))
        encoded = (line + "\x00").encode("utf-16-le")
        buffer = ctypes.create_string_buffer(encoded, len(encoded))
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, 700)
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)
        page.gen_content()
    pdf.save(str(path))
    pdf.close()
    return path


def words_chunks(doc: ExtractedDocument, target: int, max_tokens: int, overlap: int = 0) -> list[Chunk]:
    """Chunk with a word count as the token budget: sizes in tests stay easy to reason about."""
    return chunk_document(doc, target, max_tokens, overlap, count_tokens=count_words)


def sentences(n: int, tag: str) -> str:
    return " ".join(f"{tag} sentence number {i} says something useful about the topic." for i in range(n))


def extract_md(tmp_path: Path, text: str, name: str = "doc.md") -> ExtractedDocument:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return extract_document(path)


def check_invariants(doc: ExtractedDocument, chunks: list[Chunk]) -> None:
    for position, chunk in enumerate(chunks):
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.position == position
        assert chunk.doc_id == doc.doc_id and chunk.path == doc.path and chunk.format == doc.format
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()
        expected = f"{doc.doc_id}:{chunk.start}:{chunk.end}:{chunk.content_hash}"
        assert chunk.chunk_id == hashlib.sha256(expected.encode()).hexdigest()[:32]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def covered(doc: ExtractedDocument, chunks: list[Chunk]) -> bool:
    """Every non-whitespace character of the document is inside some chunk."""
    inside = [False] * len(doc.text)
    for chunk in chunks:
        inside[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    return all(flag or ch.isspace() for flag, ch in zip(inside, doc.text))


def test_structure_of_small_markdown(tmp_path: Path) -> None:
    doc = extract_md(tmp_path, MARKDOWN)
    chunks = words_chunks(doc, 20, 40)
    check_invariants(doc, chunks)
    assert covered(doc, chunks)
    code = next(c for c in chunks if "# this is a comment" in c.text)
    assert "```python\n# this is a comment, not a heading\nx = 1\n\ny = 2\n```" in code.text
    b_chunk = next(c for c in chunks if c.text.startswith("## B"))
    assert b_chunk.heading_path == ("A", "B")
    assert chunks[0].heading_path == ("A",) and chunks[0].text.startswith("# A")
    assert chunks[-1].heading_path == ("C",) and chunks[-1].text.startswith("# C")
    assert all(c.pages == () for c in chunks)


def test_every_heading_starts_a_chunk(tmp_path: Path) -> None:
    parts = [f"## Part {i}\n\n{sentences(4, f'P{i}')}" for i in range(4)]
    doc = extract_md(tmp_path, "# Guide\n\n" + "\n\n".join(parts))
    chunks = words_chunks(doc, 60, 120)
    assert [c.heading_path for c in chunks] == [("Guide", f"Part {i}") for i in range(4)]
    assert chunks[0].text.startswith("# Guide\n\n## Part 0")  # a run of headings stays together
    assert all(c.text.startswith("## Part") for c in chunks[1:])


def test_no_chunk_crosses_a_top_level_heading(tmp_path: Path) -> None:
    text = "\n\n".join(f"# Section {s}\n\n{sentences(3, f'S{s}')}\n\nshort {s}." for s in range(3))
    doc = extract_md(tmp_path, text)
    top = [b.start for b in doc.blocks if b.kind == "heading" and b.level == 1]
    for overlap in (0, 25):
        chunks = words_chunks(doc, 1000, 2000, overlap)
        check_invariants(doc, chunks)
        assert len(chunks) == 3
        for chunk in chunks:
            assert not [s for s in top if chunk.start < s < chunk.end]


def test_long_prose_respects_sizes(tmp_path: Path) -> None:
    doc = extract_md(tmp_path, "# Essay\n\n" + "\n\n".join(sentences(12, f"Para{i}") for i in range(6)))
    chunks = words_chunks(doc, 50, 100)
    check_invariants(doc, chunks)
    assert covered(doc, chunks) and len(chunks) > 10
    assert max(count_words(c.text) for c in chunks) <= 100
    # every piece of a split paragraph ends at a sentence end
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.heading_path == ("Essay",) for c in chunks)


def test_paragraph_without_sentence_ends_is_still_cut(tmp_path: Path) -> None:
    doc = extract_md(tmp_path, " ".join(["word"] * 1000))
    chunks = words_chunks(doc, 40, 80)
    check_invariants(doc, chunks)
    assert covered(doc, chunks) and max(count_words(c.text) for c in chunks) <= 80
    assert len(chunks) == 25  # 1000 words in pieces of 40


def table_and_code(tmp_path: Path, lines: int) -> tuple[ExtractedDocument, str, str, list[Chunk]]:
    """A Markdown table and a code block of ``lines`` rows / lines, chunked with target 40, max 80."""
    rows = "\n".join(f"| row {i} | value {i * 7} |" for i in range(lines))
    table = f"| key | value |\n|---|---|\n{rows}"
    code = "```\n" + "\n".join(f"# line {i}: not a heading" for i in range(lines)) + "\n```"
    doc = extract_md(tmp_path, f"# Data\n\nIntro.\n\n{table}\n\n{code}\n\nAfter the code.")
    chunks = words_chunks(doc, 40, 80)
    check_invariants(doc, chunks)
    assert covered(doc, chunks)
    return doc, table, code, chunks


def test_oversized_table_and_code_stay_whole(tmp_path: Path) -> None:
    _doc, table, code, chunks = table_and_code(tmp_path, 20)
    assert 80 < count_words(table) <= 4 * 80 and 80 < count_words(code) <= 4 * 80
    assert sum(table in c.text for c in chunks) == 1
    assert sum(code in c.text for c in chunks) == 1
    for chunk in chunks:
        if count_words(chunk.text) > 80:
            assert table in chunk.text or code in chunk.text


def test_table_and_code_over_four_times_max_are_cut_between_rows_and_lines(tmp_path: Path) -> None:
    doc, table, code, chunks = table_and_code(tmp_path, 60)
    assert count_words(table) > 4 * 80 and count_words(code) > 4 * 80
    assert max(count_words(c.text) for c in chunks) <= 80  # nothing over max_tokens any more
    lines = set(doc.text.split("\n"))
    for chunk in chunks:  # cut between rows and lines only: every line of a piece is a whole line
        assert all(line in lines for line in chunk.text.split("\n"))
    assert sum("| row 0 |" in c.text for c in chunks) == 1 and sum("# line 59:" in c.text for c in chunks) == 1


def test_one_row_longer_than_the_budget_is_cut_at_spaces_or_inside_a_word(tmp_path: Path) -> None:
    doc = extract_md(tmp_path, "| a | b |\n|---|---|\n| " + " | ".join(["x"] * 2000) + " |\n\n" + "y" * 3000)
    chunks = chunk_document(doc, 40, 80, count_tokens=lambda text: len(text) // 10 + 1)
    check_invariants(doc, chunks)
    assert covered(doc, chunks)
    assert max(len(c.text) // 10 + 1 for c in chunks) <= 80  # the word of 3000 'y's was cut too


def test_tiny_trailing_chunk_merges(tmp_path: Path) -> None:
    head = f"# Notes\n\n{sentences(5, 'Body')}"
    doc = extract_md(tmp_path, f"{head}\n\nP.S. short.")
    target = count_words(head) + 1  # the postscript does not fit the target, so it starts a chunk...
    chunks = words_chunks(doc, target, 1000)
    assert len(chunks) == 1 and chunks[0].text.endswith("P.S. short.")  # ...then merges back
    alone = words_chunks(doc, target, count_words(head) + 1)  # merged > max
    assert alone[-1].text == "P.S. short."


def test_overlap_snaps_to_sentence_or_block(tmp_path: Path) -> None:
    doc = extract_md(tmp_path, "# Essay\n\n" + "\n\n".join(sentences(6, f"Para{i}") for i in range(5)))
    plain = words_chunks(doc, 60, 120)
    chunks = words_chunks(doc, 60, 120, overlap=20)
    check_invariants(doc, chunks)
    assert len(chunks) == len(plain) and [c.end for c in chunks] == [c.end for c in plain]
    overlapped = 0
    for previous, chunk in zip(chunks, chunks[1:]):
        assert count_words(doc.text[chunk.start:previous.end]) <= 20 and chunk.start > previous.start
        assert count_words(chunk.text) <= 120
        if chunk.start < previous.end:
            overlapped += 1
            assert re.match(r"Para\d sentence number \d", chunk.text)  # starts at a sentence
    assert overlapped == len(chunks) - 1
    assert words_chunks(doc, 60, 120, overlap=20) == chunks


def test_ids_stable_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    first = chunk_document(extract_document(path), 16, 32)  # the real tokenizer
    second = chunk_document(extract_document(path), 16, 32)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    path.write_text(MARKDOWN.replace("Closing", "Final"), encoding="utf-8")
    changed = chunk_document(extract_document(path), 16, 32)
    assert changed[0].chunk_id != first[0].chunk_id  # doc id is part of every chunk id


def test_pdf_chunks_carry_pages(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "p.pdf", ["Page one words here.", "Page two words here.", "Three."])
    doc = extract_document(path)
    together = words_chunks(doc, 200, 400)
    assert len(together) == 1 and together[0].pages == (1, 2, 3)
    apart = words_chunks(doc, 4, 8)
    assert [c.pages for c in apart] == [(1,), (2,), (3,)]
    check_invariants(doc, apart)


def test_empty_document_and_bad_sizes() -> None:
    empty = ExtractedDocument("0" * 64, "none.md", "markdown", "", (), None, "none")
    assert chunk_document(empty) == []
    with pytest.raises(ValueError):
        chunk_document(empty, target_tokens=500, max_tokens=100)
    with pytest.raises(ValueError):
        chunk_document(empty, overlap_tokens=-1)


def test_default_budget_counts_minilm_word_pieces(tmp_path: Path) -> None:
    count = token_counter()
    assert count("roastery") == 2 and count("the roastery") == 3  # word pieces, not words
    assert count("word " * 300) == 300  # no truncation at the tokenizer file's 128
    doc = extract_md(tmp_path, "# Essay\n\n" + "\n\n".join(sentences(40, f"Para{i}") for i in range(3)))
    chunks = chunk_document(doc)
    check_invariants(doc, chunks)
    assert covered(doc, chunks)
    sizes = [count(c.text) for c in chunks]
    assert sum(sizes) == count(doc.text)  # pieces cut at whitespace add up to the whole
    assert max(sizes) <= 200 < count(doc.blocks[1].text)  # each 40-sentence paragraph was cut
    assert min(sizes) >= 50  # and packed, not left in sentence-sized crumbs
    assert [c.chunk_id for c in chunk_document(doc)] == [c.chunk_id for c in chunks]
