"""docling as a parser: its DoclingDocument mapped onto our blocks, per format it reads offline.

Skipped where docling is not installed (it is the optional extra ``mbdg[docling]``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("docling")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from format_files import write_corpus  # noqa: E402

from mbdg_assets.extract.document import ExtractedDocument  # noqa: E402
from mbdg_assets.extract.extraction import ExtractionError, extract_document  # noqa: E402
from mbdg_assets.extract.formats import docling_backend  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("docling"))


def docling(path: Path) -> ExtractedDocument:
    return extract_document(path, parser="docling")


def headings(doc: ExtractedDocument) -> list[tuple[int, str]]:
    return [(b.level, b.text) for b in doc.blocks if b.kind == "heading"]


def kinds(doc: ExtractedDocument, kind: str) -> list[str]:
    return [b.text for b in doc.blocks if b.kind == kind]


def test_html_headings_table_list_code_and_no_furniture(files) -> None:
    doc = docling(files["html"])
    assert headings(doc) == [(1, "# Roastery Guide"), (2, "## Roast levels")]
    assert kinds(doc, "table") == ["| Level | Minutes |\n|---|---|\n| Light | 9 |\n| Dark | 14 |"]
    assert kinds(doc, "list") == ["- Weigh the batch\n- Preheat the drum\n  - to 200 C"]
    assert kinds(doc, "code") == ["```\nroast --level light --minutes 9\n```"]
    assert "Green beans are stored at 18 degrees in sealed bags." in kinds(doc, "paragraph")  # bold run joined
    assert "Copyright" not in doc.text and "Shop menu link" not in doc.text  # footer, nav dropped
    table = next(b for b in doc.blocks if b.kind == "table")
    assert table.heading_path == ("Roastery Guide", "Roast levels")


def test_markdown_title_and_section_levels(files) -> None:
    doc = docling(files["markdown"])
    assert headings(doc) == [(1, "# Guide"), (2, "## Setup")]
    assert doc.blocks[-1].text == "Install the grinder." and doc.blocks[-1].heading_path == ("Guide", "Setup")


def test_docx_heading_level_and_paragraph(files) -> None:
    doc = docling(files["docx"])
    assert headings(doc) == [(1, "# Onboarding")]
    assert kinds(doc, "paragraph") == ["New staff shadow a roaster for two weeks."]


def test_docx_lists_and_table_after_a_list(tmp_path: Path) -> None:
    """docling files a table that follows a numbered list under the list group: it must still
    come out as its own whole table, not as an empty list item."""
    import docx

    document = docx.Document()
    document.add_heading("Checks", 2)
    document.add_paragraph("Isolate the pump", style="List Number")
    document.add_paragraph("Drain the line", style="List Number")
    grid = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Unit", "Limit"), ("P1", "40")]):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    document.save(tmp_path / "checks.docx")
    doc = docling(tmp_path / "checks.docx")
    assert headings(doc) == [(2, "## Checks")]
    assert kinds(doc, "list") == ["1. Isolate the pump\n2. Drain the line"]
    assert kinds(doc, "table") == ["| Unit | Limit |\n|---|---|\n| P1 | 40 |"]


def test_pptx_slides_titles_lists_tables_notes_and_pages(files) -> None:
    doc = docling(files["pptx"])
    assert doc.pages == 2 and headings(doc) == [(1, "# Roadmap 2027"), (1, "# Budget")]
    assert kinds(doc, "list") == ["- Open the Lisbon office\n- Hire two engineers"]
    assert kinds(doc, "table") == ["| Item | Cost |\n|---|---|\n| Rent | 1200 |\n| Laptops | 3400 |"]
    assert "Notes: Mention the lease." in kinds(doc, "paragraph")
    assert {b.text.split("\n")[0]: b.page for b in doc.blocks}["| Item | Cost |"] == 2


def test_xlsx_sheets_as_headings_and_whole_tables(files) -> None:
    doc = docling(files["xlsx"])
    assert doc.pages == 2 and headings(doc) == [(1, "# Inventory"), (1, "# Prices")]
    assert kinds(doc, "table") == ["| Bean | Origin | Kg |\n|---|---|---|\n| Arabica | Brazil | 120 |\n| Robusta | Vietnam | 80 |",
                                   "| Bean | EUR per kg |\n|---|---|\n| Arabica | 7.5 |"]
    assert [b.page for b in doc.blocks] == [1, 1, 2, 2]


def test_xlsx_side_by_side_tables_and_title_cell(tmp_path: Path) -> None:
    """Why "auto" reads XLSX with docling: separate tables stay separate, a title is text."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "Stock report"
    for r, (a, b, c, d) in enumerate([("Bean", "Kg", "Month", "Orders"), ("Arabica", 900, "Jan", 120)], start=3):
        sheet.cell(r, 1, a), sheet.cell(r, 2, b), sheet.cell(r, 4, c), sheet.cell(r, 5, d)
    book.save(tmp_path / "report.xlsx")
    doc = docling(tmp_path / "report.xlsx")
    assert kinds(doc, "table") == ["| Bean | Kg |\n|---|---|\n| Arabica | 900 |", "| Month | Orders |\n|---|---|\n| Jan | 120 |"]
    assert "Stock report" in kinds(doc, "paragraph")
    assert extract_document(tmp_path / "report.xlsx", parser="auto").blocks == doc.blocks


def test_csv_and_tsv_are_whole_tables(files) -> None:
    assert kinds(docling(files["csv"]), "table") == [
        "| Bean | Origin | Kg |\n|---|---|---|\n| Arabica | Brazil | 120 |\n| Robusta | Vietnam | 80 |"]
    assert kinds(docling(files["tsv"]), "table") == ["| Bean | Kg |\n|---|---|\n| Arabica | 120 |"]


def test_long_table_is_cut_like_the_native_parser(tmp_path: Path) -> None:
    rows = "Id,Description\n" + "".join(f"{n},row number {n} of the long file\n" for n in range(300))
    (tmp_path / "long.csv").write_text(rows, encoding="utf-8")
    tables = kinds(docling(tmp_path / "long.csv"), "table")
    assert len(tables) > 3 and all(t.startswith("| Id | Description |\n|---|---|\n") for t in tables)
    assert sum(t.count("\n| ") for t in tables) == 300


def test_epub_chapters(files) -> None:
    doc = docling(files["epub"])
    assert headings(doc) == [(1, "# The Harbour"), (1, "# The Market")]
    assert kinds(doc, "paragraph") == ["Ships dock at dawn.", "Fish is sold by noon."]


def test_block_offsets_hold_for_docling_documents(files) -> None:
    for name in ("html", "pptx", "xlsx", "docx"):
        doc = docling(files[name])
        assert all(doc.text[b.start:b.end] == b.text for b in doc.blocks)


def test_inline_runs_join_without_space_before_punctuation() -> None:
    assert docling_backend._join_runs(["Log", "ten readings", ", then report (", "now", ")."]) == \
        "Log ten readings, then report (now)."


def test_parser_routing(files) -> None:
    assert docling_backend.extractor_for("pdf", "docling") is None  # needs hub weights: native
    assert docling_backend.extractor_for("docx", "native") is None
    assert docling_backend.extractor_for("docx", "auto") is None  # measured: native is as good, faster
    assert docling_backend.extractor_for("xlsx", "auto") is not None
    with pytest.raises(ValueError, match="parser must be one of"):
        extract_document(files["docx"], parser="tika")


def test_docling_unavailable_is_a_per_file_error(files, monkeypatch) -> None:
    monkeypatch.setattr(docling_backend, "docling_installed", lambda: False)
    with pytest.raises(ExtractionError) as info:
        extract_document(files["docx"], parser="docling")
    assert info.value.code == "parser_unavailable" and "onboarding.docx" in info.value.message
    assert extract_document(files["xlsx"], parser="auto").pages == 2  # auto falls back to native


def test_damaged_files_are_clear_errors(tmp_path: Path, files) -> None:
    data = files["docx"].read_bytes()
    (tmp_path / "cut.docx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError) as info:
        docling(tmp_path / "cut.docx")
    assert info.value.code == "truncated"
    (tmp_path / "junk.pptx").write_bytes(b"PK\x03\x04" + b"\x00" * 200 + b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(ExtractionError) as info:
        docling(tmp_path / "junk.pptx")
    assert info.value.code == "corrupt_file" and "junk.pptx" in info.value.message
