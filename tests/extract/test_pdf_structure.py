"""PDF structure: headings by font size and weight, ruled tables as whole Markdown tables, two
columns read column by column, page numbers kept, and pdfium's plain text when pdfminer fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from format_files import write_structured_pdf
from mbdg_assets.enrich.chunking import chunk_document, count_words
from mbdg_assets.extract.extraction import extract_document
from mbdg_assets.extract.formats import pdf as pdf_format

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

    monkeypatch.setattr(pdf_format, "_structured_pages", broken)
    doc = extract_document(structured)
    assert all(b.kind == "paragraph" for b in doc.blocks) and doc.pages == 2
    assert "Roastery Handbook" in doc.text and "Right column line 7" in doc.text
    assert {b.page for b in doc.blocks} == {1, 2}


def _canvas(path: Path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    return canvas.Canvas(str(path), pagesize=A4, invariant=True)


def test_heading_size_counts_the_text_matrix(tmp_path: Path) -> None:
    """A title set as 1 pt text scaled 20x by the text matrix is 20 pt, as drawn."""
    pdf = _canvas(tmp_path / "scaled.pdf")
    title = pdf.beginText()
    title.setTextTransform(20, 0, 0, 20, 72, 760)
    title.setFont("Helvetica", 1)
    title.textLine("Scaled title")
    pdf.drawText(title)
    pdf.setFont("Helvetica", 11)
    for row in range(3):
        pdf.drawString(72, 720 - 14 * row, f"Body line {row} of the scaled document.")
    pdf.save()
    doc = extract_document(tmp_path / "scaled.pdf")
    assert [(b.text, b.level) for b in doc.blocks if b.kind == "heading"] == [("# Scaled title", 1)]
    assert doc.blocks[1].text == "\n".join(f"Body line {row} of the scaled document." for row in range(3))


def test_rotated_page_is_read_as_shown(tmp_path: Path) -> None:
    """/Rotate 90 with text drawn so it reads upright on screen: lines in screen order, not one
    character per line."""
    pdf = _canvas(tmp_path / "landscape.pdf")
    pdf.setPageRotation(90)
    pdf.rotate(90)  # user space turned so the text runs up the unrotated page, across the shown one
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(72, -72, "Landscape heading")
    pdf.setFont("Helvetica", 11)
    for row in range(3):
        pdf.drawString(72, -100 - 14 * row, f"Wide line {row} of the landscape page.")
    pdf.save()
    doc = extract_document(tmp_path / "landscape.pdf")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "# Landscape heading"),
        ("paragraph", "\n".join(f"Wide line {row} of the landscape page." for row in range(3))),
    ]


def test_table_drawn_inside_a_form_xobject(tmp_path: Path) -> None:
    """Ruling lines and text inside a reusable form XObject still make a table."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    pdf = _canvas(tmp_path / "form.pdf")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 760, "The table sits in a form.")
    pdf.beginForm("grid")
    table = Table([["Bean", "Kg"], ["Arabica", "12"], ["Robusta", "7"]])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONT", (0, 0), (-1, -1), "Helvetica", 11)]))
    _, height = table.wrapOn(pdf, 400, 400)
    table.drawOn(pdf, 72, 700 - height)
    pdf.endForm()
    pdf.doForm("grid")
    pdf.save()
    doc = extract_document(tmp_path / "form.pdf")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("paragraph", "The table sits in a form."),
        ("table", "| Bean | Kg |\n|---|---|\n| Arabica | 12 |\n| Robusta | 7 |"),
    ]


def test_word_hyphenated_at_a_line_end_is_made_whole(tmp_path: Path) -> None:
    """A typesetter's break inside a word is undone, so the sentence a reader copies from the
    PDF is the sentence in the extracted text (issue 14); before a capital the hyphen stays."""
    pdf = _canvas(tmp_path / "hyphen.pdf")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 760, "Roasting changes the bean's colour and manip-")
    pdf.drawString(72, 746, "ulation of the drum speed matters for the Disk-")
    pdf.drawString(72, 732, "Cache of the roaster.")
    pdf.save()
    text = extract_document(tmp_path / "hyphen.pdf").text
    assert "colour and manipulation\nof the drum speed" in text
    assert "Disk-Cache" in text and "manip-" not in text


def test_join_lines_keeps_ordinary_line_ends() -> None:
    # a compound broken at its own hyphen loses it ("wellknown"): the price of undoing word
    # breaks without a dictionary; a dash after a space is no word break
    assert pdf_format.join_lines(["a well-", "known fact", "ends here -", "then more"]) == "a wellknown\nfact\nends here -\nthen more"
    assert pdf_format.join_lines(["one line"]) == "one line"


def test_running_headers_page_numbers_go_and_a_sentence_runs_on_over_the_page_break(tmp_path: Path) -> None:
    pdf = _canvas(tmp_path / "furniture.pdf")
    lines = {2: ["Page 2 explains one step of the roast in plain words.", "The drum speed is raised when the beans"],
             3: ["reach the first crack at about 196 degrees.", "Page 3 explains one step of the roast in plain words."]}
    for page in range(1, 5):
        pdf.setFont("Helvetica", 8)
        pdf.drawString(72, 810, "Roaster Manual - chapter notes")
        pdf.setFont("Helvetica", 11)
        for n, line in enumerate(lines.get(page, [f"Page {page} explains one step of the roast in plain words."])):
            pdf.drawString(72, 760 - 14 * n, line)
        pdf.setFont("Helvetica", 8)
        pdf.drawString(290, 30, str(page))
        pdf.showPage()
    pdf.save()
    text = extract_document(tmp_path / "furniture.pdf").text
    assert "Roaster Manual" not in text
    assert "The drum speed is raised when the beans\nreach the first crack at about 196 degrees." in text
    assert not any(line.strip().isdigit() for line in text.splitlines())
