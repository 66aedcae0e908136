"""Extraction: real files written under tmp_path, real content asserted, every error code hit."""

from __future__ import annotations

import ctypes
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from mbdg_assets.extract.document import ExtractedDocument, heading_title
from mbdg_assets.extract.extraction import SUPPORTED_FORMATS, ExtractionError, detect_format, extract_document

MARKDOWN = """# A

Intro paragraph under A.
It has two lines.

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
| bob  | 5     |

- first item
- second item
  continued
- third item

---

# C

~~~
## tilde fenced, still code
~~~

Closing words under C.
"""


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A real text PDF via pypdfium2's raw API; '' in a page's lines leaves a paragraph gap."""
    pdf = pdfium.PdfDocument.new()
    for lines in pages:
        page = pdf.new_page(612, 792)
        y = 720
        for line in lines:
            y -= 40 if not line else 16
            if line:
                _add_text(pdf, page, line, y)
        page.gen_content()
    pdf.save(str(path))
    pdf.close()
    return path


def _add_text(pdf, page, line: str, y: float) -> None:
    obj = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(12))
    encoded = (line + "\x00").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(encoded, len(encoded))
    assert pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, y)
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)


def hand_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A minimal PDF written byte by byte, with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


PAGE_TREE = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
]


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Quarterly Report", 0)
    document.add_heading("Overview", 1)
    document.add_paragraph("Revenue grew in every region this quarter.")
    document.add_heading("Figures", 2)
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([("Region", "Revenue"), ("North", "120"), ("South", "95")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Hire two engineers", style="List Bullet")
    document.add_paragraph("Open the Lisbon office", style="List Bullet")
    document.add_heading("Risks", 1)
    document.add_paragraph("Currency swings remain the main risk.")
    document.save(str(path))
    return path


def assert_offsets(doc: ExtractedDocument) -> None:
    for block in doc.blocks:
        assert block.text == doc.text[block.start : block.end]
    assert doc.text == "\n\n".join(b.text for b in doc.blocks)


def block_with(doc: ExtractedDocument, needle: str):
    return next(b for b in doc.blocks if needle in b.text)


# --------------------------------------------------------------------------- markdown


@pytest.fixture()
def md_doc(tmp_path: Path) -> ExtractedDocument:
    path = tmp_path / "notes.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    return extract_document(path)


def test_markdown_heading_paths_and_title(md_doc: ExtractedDocument) -> None:
    assert md_doc.format == "markdown" and md_doc.title == "A" and md_doc.pages is None
    assert block_with(md_doc, "Intro paragraph").heading_path == ("A",)
    assert block_with(md_doc, "Paragraph under B").heading_path == ("A", "B")
    assert block_with(md_doc, "Closing words").heading_path == ("C",)
    headings = [(b.text, b.level, b.heading_path) for b in md_doc.blocks if b.kind == "heading"]
    assert headings == [("# A", 1, ()), ("## B", 2, ("A",)), ("# C", 1, ())]
    assert [heading_title(b) for b in md_doc.blocks if b.kind == "heading"] == ["A", "B", "C"]
    assert all(b.page is None for b in md_doc.blocks)
    assert_offsets(md_doc)


def test_markdown_code_table_list_blocks(md_doc: ExtractedDocument) -> None:
    code = [b for b in md_doc.blocks if b.kind == "code"]
    assert code[0].text == "```python\n# this is a comment, not a heading\nx = 1\n\ny = 2\n```"
    assert code[1].text == "~~~\n## tilde fenced, still code\n~~~"
    assert code[0].heading_path == ("A", "B")
    table = block_with(md_doc, "| Name")
    assert table.kind == "table" and table.text.splitlines()[2:] == ["| ann  | 3     |", "| bob  | 5     |"]
    listing = block_with(md_doc, "first item")
    assert listing.kind == "list" and listing.text == "- first item\n- second item\n  continued\n- third item"
    paragraph = block_with(md_doc, "Intro paragraph")
    assert paragraph.kind == "paragraph" and paragraph.text.endswith("It has two lines.")
    assert "\n---\n" not in md_doc.text  # horizontal rules carry no text


def test_markdown_paragraphs_split_on_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.markdown"
    path.write_text("one\n\n\ntwo\nstill two\n\n   \nthree\n", encoding="utf-8")
    doc = extract_document(path)
    assert [b.text for b in doc.blocks] == ["one", "two\nstill two", "three"]
    assert doc.title == "p" and doc.format == "markdown"


# --------------------------------------------------------------------------- plain text


def test_text_paragraphs_and_headings(tmp_path: Path) -> None:
    path = tmp_path / "memo.txt"
    path.write_text(
        "Memo title\n==========\n\nFirst paragraph\nwraps here.\n\nINSTALLATION\n\n"
        "Run the installer. Then reboot.\n\nDetails\n-------\nSmall print.\n",
        encoding="utf-8",
    )
    doc = extract_document(path)
    assert doc.format == "text" and doc.title == "Memo title"
    kinds = [(b.kind, b.level) for b in doc.blocks]
    assert kinds == [("heading", 1), ("paragraph", 0), ("heading", 1), ("paragraph", 0),
                     ("heading", 2), ("paragraph", 0)]
    assert block_with(doc, "First paragraph").heading_path == ("Memo title",)
    assert block_with(doc, "Run the installer").heading_path == ("INSTALLATION",)
    assert block_with(doc, "Small print").heading_path == ("INSTALLATION", "Details")
    assert_offsets(doc)


def test_text_decoding_never_crashes(tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfHello utf-8 caf\xc3\xa9")
    assert extract_document(tmp_path / "bom.txt").text == "Hello utf-8 café"
    (tmp_path / "win.txt").write_bytes(b"caf\xe9 \x93quoted\x94")
    assert extract_document(tmp_path / "win.txt").text == "café \u201cquoted\u201d"
    (tmp_path / "odd.md").write_bytes(b"bytes \x81\x8d undefined in cp1252 \xff")
    assert extract_document(tmp_path / "odd.md").text.startswith("bytes ")
    (tmp_path / "crlf.txt").write_bytes(b"line one\r\n\r\nline two\r\n")
    assert [b.text for b in extract_document(tmp_path / "crlf.txt").blocks] == ["line one", "line two"]


# --------------------------------------------------------------------------- PDF


@pytest.fixture()
def pdf_path(tmp_path: Path) -> Path:
    return write_pdf(
        tmp_path / "report.pdf",
        [
            ["Alpha paragraph on page one.", "It continues on a second line.", "",
             "Beta paragraph also on page one."],
            ["Gamma paragraph sits on page two."],
        ],
    )


def test_pdf_pages_and_paragraphs(pdf_path: Path) -> None:
    doc = extract_document(pdf_path)
    assert doc.format == "pdf" and doc.pages == 2 and doc.title == "report"
    alpha = block_with(doc, "Alpha paragraph")
    assert alpha.text == "Alpha paragraph on page one.\nIt continues on a second line."
    assert alpha.page == 1 and block_with(doc, "Beta paragraph").page == 1
    assert block_with(doc, "Gamma paragraph").page == 2
    assert len(doc.blocks) == 3
    assert all(b.kind == "paragraph" and b.heading_path == () for b in doc.blocks)  # one font size: no headings
    assert_offsets(doc)


def test_pdf_without_text_layer_is_no_text(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(hand_pdf(PAGE_TREE))
    with pytest.raises(ExtractionError) as info:
        extract_document(path)
    assert info.value.code == "no_text" and "scan.pdf" in info.value.message
    assert "1 page" in info.value.message


# --------------------------------------------------------------------------- DOCX


def test_docx_headings_table_list(tmp_path: Path) -> None:
    doc = extract_document(write_docx(tmp_path / "q3.docx"))
    assert doc.format == "docx" and doc.title == "Quarterly Report" and doc.pages is None
    assert block_with(doc, "Revenue grew").heading_path == ("Overview",)
    table = block_with(doc, "Region")
    assert table.kind == "table" and table.heading_path == ("Overview", "Figures")
    assert table.text == (
        "| Region | Revenue |\n|---|---|\n| North | 120 |\n| South | 95 |"
    )
    listing = block_with(doc, "Hire two engineers")
    assert listing.kind == "list"
    assert listing.text == "- Hire two engineers\n- Open the Lisbon office"
    risk = block_with(doc, "Currency swings")
    assert risk.heading_path == ("Risks",)
    figures = block_with(doc, "Figures")
    assert figures.kind == "heading" and figures.level == 2 and figures.text == "## Figures"
    assert_offsets(doc)


# --------------------------------------------------------------------------- identity


def test_doc_id_is_content_hash(tmp_path: Path, pdf_path: Path) -> None:
    first = extract_document(pdf_path)
    again = extract_document(pdf_path)
    assert first.doc_id == again.doc_id and len(first.doc_id) == 64
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(pdf_path.read_bytes())
    assert extract_document(copy).doc_id == first.doc_id
    md = tmp_path / "x.md"
    md.write_text("# T\n\nsame text", encoding="utf-8")
    before = extract_document(md).doc_id
    md.write_text("# T\n\nsame texT", encoding="utf-8")
    assert extract_document(md).doc_id != before
    assert extract_document(md).path == str(md)


def test_supported_formats_and_detect(tmp_path: Path, pdf_path: Path) -> None:
    assert {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf", ".docx": "docx"}.items() <= SUPPORTED_FORMATS.items()
    assert {SUPPORTED_FORMATS[s] for s in (".pptx", ".xlsx", ".csv", ".json", ".html", ".eml", ".png")} == {
        "pptx", "xlsx", "csv", "json", "html", "eml", "image"}
    assert detect_format(pdf_path) == "pdf"
    assert detect_format(write_docx(tmp_path / "a.docx")) == "docx"
    upper = tmp_path / "UPPER.MD"
    upper.write_text("# Up\n\ntext", encoding="utf-8")
    assert detect_format(upper) == "markdown" and extract_document(upper).title == "Up"


# --------------------------------------------------------------------------- errors


def expect_error(path: Path, code: str, **kwargs) -> ExtractionError:
    with pytest.raises(ExtractionError) as info:
        extract_document(path, **kwargs)
    assert info.value.code == code, info.value.message
    assert path.name in info.value.message and str(info.value) == info.value.message
    return info.value


def test_empty_and_whitespace_files(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    expect_error(tmp_path / "empty.md", "empty_file")
    (tmp_path / "blank.txt").write_text("  \n\n\t\n", encoding="utf-8")
    expect_error(tmp_path / "blank.txt", "no_text")


def test_unsupported_suffix_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "data.xyz").write_text("hello", encoding="utf-8")
    error = expect_error(tmp_path / "data.xyz", "unsupported_format")
    assert ".md" in error.message and ".pdf" in error.message and ".docx" in error.message
    with pytest.raises(ExtractionError):
        detect_format(tmp_path / "data.xyz")


def test_too_large_reports_sizes(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 500, encoding="utf-8")
    error = expect_error(path, "too_large", max_bytes=100)
    assert "500" in error.message and "100" in error.message


def test_truncated_pdf(tmp_path: Path, pdf_path: Path) -> None:
    data = pdf_path.read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    expect_error(cut, "truncated")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref")
    expect_error(garbage, "corrupt_file")


def test_wrong_extension_pdf_and_docx(tmp_path: Path) -> None:
    fake_pdf = tmp_path / "letter.pdf"
    fake_pdf.write_text("Dear reader, this is plain text.", encoding="utf-8")
    error = expect_error(fake_pdf, "wrong_extension")
    assert "not a PDF" in error.message and "Dear" in error.message and "plain text" in error.message
    with pytest.raises(ExtractionError) as info:
        detect_format(fake_pdf)
    assert info.value.code == "wrong_extension"
    noise = tmp_path / "noise.docx"
    noise.write_bytes(bytes(range(256)) * 4)
    assert "zip" in expect_error(noise, "corrupt_file").message


def test_a_bmp_is_known_by_its_header_not_its_two_letters(tmp_path: Path) -> None:
    from PIL import Image

    bmp = tmp_path / "scan.bmp"
    Image.new("RGB", (8, 8), "white").save(bmp, format="BMP")
    assert detect_format(bmp) == "image"  # its header, not only its two-letter signature
    text = tmp_path / "memo.bmp"
    text.write_text("BMW fleet memo: plain text.", encoding="utf-8")
    assert "rename it to .txt" in expect_error(text, "wrong_extension").message


def test_suffix_case_does_not_matter(tmp_path: Path, pdf_path: Path) -> None:
    upper = tmp_path / "REPORT.PDF"
    upper.write_bytes(pdf_path.read_bytes())
    assert detect_format(upper) == "pdf" and extract_document(upper).pages == 2  # a PDF, not a wrong name
    mixed = tmp_path / "Scan.Png"
    mixed.write_bytes(pdf_path.read_bytes())
    assert "rename it to .pdf" in expect_error(mixed, "wrong_extension").message
    letter = tmp_path / "LETTER.PDF"
    letter.write_text("Dear reader, this is plain text.", encoding="utf-8")
    assert "rename it to .txt" in expect_error(letter, "wrong_extension").message
    notes = tmp_path / "NOTES.TXT"
    notes.write_text("NOTES\n\nPlain text in an upper-case file name.", encoding="utf-8")
    assert extract_document(notes).format == "text"


def test_zip_that_is_not_docx_is_corrupt(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "archive.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    expect_error(path, "corrupt_file")


def test_encrypted_pdf(tmp_path: Path) -> None:
    """A hand-built PDF with a Standard security handler whose empty user password is wrong."""
    security = b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"
    file_id = b"<" + b"33" * 16 + b">"
    path = tmp_path / "secret.pdf"
    path.write_bytes(hand_pdf(PAGE_TREE + [security], b"/Encrypt 4 0 R /ID [%s %s] " % (file_id, file_id)))
    assert "password" in expect_error(path, "encrypted").message


def test_encrypted_docx_container(tmp_path: Path) -> None:
    """Password-protected .docx files are OLE containers holding an EncryptionInfo stream."""
    path = tmp_path / "locked.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le"))
    expect_error(path, "encrypted")


def test_missing_and_binary_files_are_unreadable(tmp_path: Path) -> None:
    expect_error(tmp_path / "ghost.md", "unreadable")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02 unknown binary \x00")
    expect_error(binary, "unreadable")
    png = tmp_path / "image.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert ".png" in expect_error(png, "wrong_extension").message
