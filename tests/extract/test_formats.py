"""Every format beyond Markdown/TXT/PDF/DOCX: a file with known content, built here, extracted,
and checked for text, headings, tables and pages; then the bad-input codes for each family."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from format_files import (
    pdf_bytes,
    write_corpus,
    write_epub,
    write_odt,
    write_pptx,
    write_text_image,
    write_xlsx,
)
from mbdg_assets.extract.document import ExtractedDocument
from mbdg_assets.extract.extraction import ExtractionError, extract_document


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExtractedDocument]:
    files = write_corpus(tmp_path_factory.mktemp("formats"))
    return {name: extract_document(path) for name, path in files.items()}


def headings(doc: ExtractedDocument) -> list[tuple[int, tuple[str, ...], str]]:
    return [(b.level, b.heading_path, b.text) for b in doc.blocks if b.kind == "heading"]


def kinds(doc: ExtractedDocument, kind: str) -> list[str]:
    return [b.text for b in doc.blocks if b.kind == kind]


def test_every_block_is_its_own_span_of_the_text(corpus: dict[str, ExtractedDocument]) -> None:
    for name, doc in corpus.items():
        assert doc.blocks, name
        for block in doc.blocks:
            assert doc.text[block.start : block.end] == block.text, name


def test_pptx_slides_are_pages_with_titles_lists_tables_and_notes(corpus) -> None:
    doc = corpus["pptx"]
    assert doc.format == "pptx" and doc.pages == 2 and doc.title == "Roadmap 2027"
    assert headings(doc) == [(1, (), "# Roadmap 2027"), (1, (), "# Budget")]
    assert kinds(doc, "list") == ["- Open the Lisbon office\n- Hire two engineers"]
    assert kinds(doc, "table") == ["| Item | Cost |\n|---|---|\n| Rent | 1200 |\n| Laptops | 3400 |"]
    assert "Notes: Mention the lease." in kinds(doc, "paragraph")
    assert {b.text.split("\n")[0]: b.page for b in doc.blocks if b.kind != "heading"}["| Item | Cost |"] == 2
    assert "Roadmap 2027" not in kinds(doc, "paragraph")  # the title is a heading, not repeated


def test_xlsx_sheets_become_tables_under_their_names(corpus) -> None:
    doc = corpus["xlsx"]
    assert doc.pages == 2 and headings(doc) == [(1, (), "# Inventory"), (1, (), "# Prices")]
    tables = kinds(doc, "table")
    assert tables[0] == "| Bean | Origin | Kg |\n|---|---|---|\n| Arabica | Brazil | 120 |\n| Robusta | Vietnam | 80 |"
    assert tables[1].endswith("| Arabica | 7.5 |")
    assert [b.page for b in doc.blocks if b.kind == "table"] == [1, 2]


def test_long_sheet_is_cut_into_tables_that_repeat_the_header(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(("Id", "Description"))
    for number in range(300):
        book.active.append((number, f"row number {number} of the long sheet"))
    book.save(tmp_path / "long.xlsx")
    tables = kinds(extract_document(tmp_path / "long.xlsx"), "table")
    assert len(tables) > 3 and all(t.startswith("| Id | Description |\n|---|---|\n") for t in tables)
    assert all(len(t) <= 2100 for t in tables)
    assert sum(t.count("\n| ") for t in tables) == 300  # every row once


def test_csv_tsv_json_jsonl(corpus) -> None:
    assert kinds(corpus["csv"], "table") == ["| Bean | Origin | Kg |\n|---|---|---|\n| Arabica | Brazil | 120 |\n| Robusta | Vietnam | 80 |"]
    assert kinds(corpus["tsv"], "table") == ["| Bean | Kg |\n|---|---|\n| Arabica | 120 |"]
    doc = corpus["json"]
    assert kinds(doc, "paragraph")[:2] == ["name: roastery", "temperature: 200\nunit: C"]
    assert [h[2] for h in headings(doc)] == ["# settings", "# staff"]
    assert kinds(doc, "table") == ["| name | role |\n|---|---|\n| Ana | roaster |\n| Bob | buyer |"]
    assert kinds(corpus["jsonl"], "table") == ["| event | kg |\n|---|---|\n| delivery | 120 |\n| roast | 40 |"]


def test_semicolon_csv_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("Name;Price\nEspresso;2,50\n", encoding="utf-8")
    assert kinds(extract_document(path), "table") == ["| Name | Price |\n|---|---|\n| Espresso | 2,50 |"]


def test_html_keeps_structure_and_drops_page_furniture(corpus) -> None:
    doc = corpus["html"]
    assert doc.title == "Roastery Guide"
    assert headings(doc) == [(1, (), "# Roastery Guide"), (2, ("Roastery Guide",), "## Roast levels")]
    assert kinds(doc, "paragraph") == ["Green beans are stored at 18 degrees in sealed bags."]
    assert kinds(doc, "table") == ["| Level | Minutes |\n|---|---|\n| Light | 9 |\n| Dark | 14 |"]
    assert kinds(doc, "list") == ["- Weigh the batch\n- Preheat the drum\n  - to 200 C"]
    assert kinds(doc, "code") == ["```\nroast --level light --minutes 9\n```"]
    for furniture in ("tracking", "Shop menu", "Copyright", "color: red"):
        assert furniture not in doc.text


def test_html_without_h1_uses_its_title(tmp_path: Path) -> None:
    path = tmp_path / "plain.htm"
    path.write_text("<html><head><title>Opening hours</title></head><body><div>Open 8 to 18.<br>Closed Sunday.</div></body></html>")
    doc = extract_document(path)
    assert doc.title == "Opening hours" and kinds(doc, "paragraph") == ["Open 8 to 18.\nClosed Sunday."]
    assert doc.blocks[-1].heading_path == ("Opening hours",)


def test_eml_body_and_attachments_recursively(corpus) -> None:
    doc = corpus["eml"]
    assert doc.title == "Supplier change"
    assert "From: Ana Silva <ana@example.com>" in doc.text and "Minas Gerais cooperative" in doc.text
    titles = [h[2] for h in headings(doc)]
    assert titles[:2] == ["# Supplier change", "## Attachment: stock.csv"]
    assert "## Attachment: onboarding.docx" in titles and "## Attachment: message.eml" in titles
    assert kinds(doc, "table") == ["| Bean | Kg |\n|---|---|\n| Arabica | 120 |"]
    docx_para = next(b for b in doc.blocks if "shadow a roaster" in b.text)
    assert docx_para.heading_path == ("Supplier change", "Attachment: onboarding.docx", "Onboarding")
    quote = next(b for b in doc.blocks if "7 EUR per kg" in b.text)
    assert quote.heading_path[-1] == "Original quote"


def test_rst_sections_lists_code_tables(corpus) -> None:
    doc = corpus["rst"]
    assert headings(doc) == [(1, (), "# Field Manual"), (2, ("Field Manual",), "## Pumps")]
    assert kinds(doc, "list") == ["- inspect the housing\n- replace worn gaskets"]
    assert kinds(doc, "code") == ["```\npump status --all\n```"]
    assert kinds(doc, "table") == ["| Pump | Flow |\n|---|---|\n| P1 | 40 |\n| P2 | 55 |"]


def test_odt_epub_rtf(corpus) -> None:
    odt = corpus["odt"]
    assert headings(odt) == [(1, (), "# Safety Plan"), (2, ("Safety Plan",), "## Drills")]
    assert kinds(odt, "paragraph") == ["Exits are marked in green."]
    assert kinds(odt, "list") == ["- Fire drill in May\n- Flood drill in June"]
    assert kinds(odt, "table") == ["| Room | Warden |\n|---|---|\n| Lab | Ana |"]
    epub = corpus["epub"]
    assert epub.pages == 2 and [h[2] for h in headings(epub)] == ["# The Harbour", "# The Market"]
    assert [(b.page, b.text) for b in epub.blocks if b.kind == "paragraph"] == [(1, "Ships dock at dawn."), (2, "Fish is sold by noon.")]
    assert kinds(corpus["rtf"], "paragraph") == ["Quarterly memo", "The warehouse moves to Porto in March.", "Budget is approved."]


def _squashed(text: str) -> str:
    return "".join(text.lower().split())


def test_images_through_offline_ocr(tmp_path: Path) -> None:
    """RapidOCR's shipped models read clean rendered text; a multi-page TIFF keeps its pages.
    Spaces are compared loosely: the shipped recognition model sometimes drops them."""
    png = extract_document(write_text_image(tmp_path / "note.png", ["Beans arrive every Monday"]))
    assert png.format == "image" and png.pages == 1
    assert "beansarriveeverymonday" in _squashed(png.text)
    tiff = extract_document(write_text_image(tmp_path / "scan.tiff", [], pages=[["Pumps first"], ["Valves second"]]))
    assert tiff.pages == 2
    assert [(b.page, _squashed(b.text)) for b in tiff.blocks] == [(1, "pumpsfirst"), (2, "valvessecond")]


# --------------------------------------------------------------------------- bad input


def expect(path: Path, code: str) -> ExtractionError:
    with pytest.raises(ExtractionError) as info:
        extract_document(path)
    assert info.value.code == code, info.value.message
    assert path.name in info.value.message
    return info.value


@pytest.mark.parametrize("name", ["deck.pptx", "book.xlsx", "doc.docx", "text.odt", "book.epub"])
def test_truncated_zip_containers(tmp_path: Path, name: str) -> None:
    builders = {".pptx": write_pptx, ".xlsx": write_xlsx, ".odt": write_odt, ".epub": write_epub}
    source = tmp_path / ("full" + Path(name).suffix)
    if source.suffix == ".docx":
        from format_files import write_docx

        write_docx(source)
    else:
        builders[source.suffix](source)
    data = source.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    expect(tmp_path / name, "truncated")


@pytest.mark.parametrize("name", ["deck.pptx", "book.xlsx", "text.odt", "book.epub"])
def test_encrypted_office_containers_and_zips(tmp_path: Path, name: str) -> None:
    ole = tmp_path / name
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le"))
    expect(ole, "encrypted")


def test_password_zip_and_drm_epub_are_encrypted(tmp_path: Path) -> None:
    odt = write_odt(tmp_path / "plain.odt")
    data = bytearray(odt.read_bytes())
    data[6] |= 0x1  # the local header's "encrypted" flag
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and the central directory's
    (tmp_path / "locked.odt").write_bytes(bytes(data))
    expect(tmp_path / "locked.odt", "encrypted")
    epub = tmp_path / "drm.epub"
    with zipfile.ZipFile(epub, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/encryption.xml", "<encryption/>")
    expect(epub, "encrypted")


def test_wrong_extension_names_the_real_format(tmp_path: Path) -> None:
    pptx_as_docx = tmp_path / "slides.docx"
    pptx_as_docx.write_bytes(write_pptx(tmp_path / "real.pptx").read_bytes())
    assert ".pptx" in expect(pptx_as_docx, "wrong_extension").message
    pdf_as_xlsx = tmp_path / "report.xlsx"
    pdf_as_xlsx.write_bytes(pdf_bytes(["hello"]))
    assert ".pdf" in expect(pdf_as_xlsx, "wrong_extension").message
    pdf_as_txt = tmp_path / "notes.txt"
    pdf_as_txt.write_bytes(pdf_bytes(["hello"]))
    assert "a PDF" in expect(pdf_as_txt, "wrong_extension").message
    text_as_png = tmp_path / "photo.png"
    text_as_png.write_text("just words")
    assert "plain text" in expect(text_as_png, "wrong_extension").message
    png_as_html = tmp_path / "page.html"
    png_as_html.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    expect(png_as_html, "wrong_extension")


def test_rtf_with_escaped_backslashes_before_braces_is_whole(tmp_path: Path) -> None:
    """An escaped backslash before a group's brace (a path, the RTF specification's own examples)
    is not an escaped brace: counting "\\}" as one said such files were cut off."""
    path = tmp_path / "paths.rtf"
    path.write_text(r"{\rtf1\ansi {\b C:\\}Windows holds {\i D:\\}the drivers.\par Second paragraph here.\par}")
    doc = extract_document(path)
    assert [line for line in doc.text.splitlines() if line] == ["C:\\Windows holds D:\\the drivers.", "Second paragraph here."]
    (tmp_path / "cut.rtf").write_text(r"{\rtf1\ansi {\b C:\\}Windows {\i D:\\ cut")
    expect(tmp_path / "cut.rtf", "truncated")


def test_corrupt_and_truncated_data_formats(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"name": "roastery", "staff": [')
    expect(tmp_path / "cut.json", "truncated")
    (tmp_path / "bad.json").write_text('{"name": roastery}')
    expect(tmp_path / "bad.json", "corrupt_file")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    assert "line 2" in expect(tmp_path / "bad.jsonl", "corrupt_file").message
    (tmp_path / "cut.rtf").write_text(r"{\rtf1\ansi {\fonttbl {\f0 Times;}} Hello \par")
    expect(tmp_path / "cut.rtf", "truncated")
    (tmp_path / "plain.rtf").write_text("not rtf at all")
    expect(tmp_path / "plain.rtf", "wrong_extension")
    (tmp_path / "headers.eml").write_text("just a line of text without any header\n")
    expect(tmp_path / "headers.eml", "corrupt_file")
    (tmp_path / "fake.msg").write_text("hello")
    expect(tmp_path / "fake.msg", "corrupt_file")
    (tmp_path / "fake.xls").write_text("a,b\n1,2\n")
    expect(tmp_path / "fake.xls", "wrong_extension")


def test_truncated_and_blank_images(tmp_path: Path) -> None:
    full = write_text_image(tmp_path / "full.png", ["Hello"]).read_bytes()
    (tmp_path / "cut.png").write_bytes(full[: len(full) // 2])
    expect(tmp_path / "cut.png", "truncated")
    from PIL import Image

    Image.new("RGB", (200, 100), "white").save(tmp_path / "blank.png")
    assert "OCR found no text" in expect(tmp_path / "blank.png", "no_text").message


def test_zero_byte_and_huge_files_for_new_formats(tmp_path: Path) -> None:
    for name in ("empty.pptx", "empty.csv", "empty.eml", "empty.png"):
        (tmp_path / name).write_bytes(b"")
        expect(tmp_path / name, "empty_file")
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" * 100)
    with pytest.raises(ExtractionError) as info:
        extract_document(big, max_bytes=100)
    assert info.value.code == "too_large"


def test_unreadable_attachment_becomes_a_note_not_a_failure(tmp_path: Path) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = "a@example.com", "Broken attachment"
    message.set_content("See attached.")
    message.add_attachment(b"\x00\x01garbage", maintype="application", subtype="octet-stream", filename="data.bin")
    message.add_attachment(b"{\"cut\": [", maintype="application", subtype="json", filename="cut.json")
    (tmp_path / "m.eml").write_bytes(bytes(message))
    doc = extract_document(tmp_path / "m.eml")
    assert "See attached." in doc.text
    assert "(not read: unsupported_format" in doc.text and "(not read: truncated" in doc.text
    assert json.loads('{"ok": 1}')  # keep json imported for the builders above


def test_msg_headers_body_and_attachment(tmp_path: Path) -> None:
    """An Outlook file written by hand (Compound File v3, see format_files._cfb): the property
    streams mbdg reads are the ones Outlook writes, so this checks the reading, not Outlook."""
    from format_files import write_msg

    path = write_msg(tmp_path / "lease.msg", "Lease renewal", "Ana Silva", "Bob", "The lease ends in June.\n\nRenew for two years.",
                     [("terms.csv", b"Term,Years\nLease,2\n")])
    doc = extract_document(path)
    assert doc.format == "msg" and doc.title == "Lease renewal"
    assert kinds(doc, "paragraph") == ["From: Ana Silva\nTo: Bob", "The lease ends in June.", "Renew for two years."]
    assert headings(doc)[1] == (2, ("Lease renewal",), "## Attachment: terms.csv")
    assert kinds(doc, "table") == ["| Term | Years |\n|---|---|\n| Lease | 2 |"]
    data = path.read_bytes()
    for cut in (1000, 1500, len(data) // 2, len(data) - 100):
        (tmp_path / "cut.msg").write_bytes(data[:cut])
        expect(tmp_path / "cut.msg", "truncated")
