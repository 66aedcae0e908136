"""Formats offices actually have (issue 15): wide-encoded text and mail, scanned PDFs through OCR,
archives, XML / YAML / Org / source code, BMP / HEIC, signed mail, legacy Word / PowerPoint, and the
fallback between our parsers and docling. Every test builds its file with known content."""

from __future__ import annotations

from pathlib import Path

import pytest

from format_files import pdf_bytes, write_eml, write_text_image
from mbdg_assets.extract.extraction import ExtractedDocument, ExtractionError, extract_document
from mbdg_assets.extract.formats.base import decode, text_encoding

TEXT = "Résumé of the Zürich roastery: green coffee arrives every Tuesday.\n\nSacks are weighed and logged."


def kinds(doc: ExtractedDocument, kind: str) -> list[str]:
    return [b.text for b in doc.blocks if b.kind == kind]


def headings(doc: ExtractedDocument) -> list[tuple[int, tuple[str, ...], str]]:
    return [(b.level, b.heading_path, b.text) for b in doc.blocks if b.kind == "heading"]


# --------------------------------------------------------------------------- UTF-16 / UTF-32

WIDE = [("utf-16", "utf-16-le"), ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"),
        ("utf-32", "utf-32-le"), ("utf-32-le", "utf-32-le"), ("utf-32-be", "utf-32-be")]


@pytest.mark.parametrize(("codec", "expected"), WIDE)
def test_wide_encodings_are_recognised_with_and_without_a_bom(codec: str, expected: str) -> None:
    data = TEXT.encode(codec)  # "utf-16" / "utf-32" write a BOM, the -le / -be codecs do not
    assert text_encoding(data) == expected
    assert decode(Path("a.txt"), data) == TEXT


def test_byte_oriented_text_is_not_taken_for_utf16() -> None:
    assert text_encoding(TEXT.encode("utf-8")) is None
    assert text_encoding(TEXT.encode("cp1252")) is None
    with pytest.raises(ExtractionError, match="NUL bytes"):
        decode(Path("a.txt"), b"\x00\x01\x02\x03\xff\xfe\xfd" * 50 + b"\x00\x00\x00\x00\x01")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32-be"])
@pytest.mark.parametrize("suffix", [".txt", ".md", ".csv", ".json", ".html", ".rst"])
def test_every_text_format_reads_wide_encodings(tmp_path: Path, codec: str, suffix: str) -> None:
    content = {".txt": TEXT, ".md": "# Zürich\n\n" + TEXT, ".csv": "city,day\nZürich,Tuesday\n",
               ".json": '{"city": "Zürich", "day": "Tuesday"}', ".html": f"<h1>Zürich</h1><p>{TEXT}</p>",
               ".rst": "Zürich\n======\n\n" + TEXT}[suffix]
    path = tmp_path / f"wide{suffix}"
    path.write_bytes(content.encode(codec))
    doc = extract_document(path)
    assert "Zürich" in doc.text and "Tuesday" in doc.text


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])
def test_mail_saved_as_utf16_is_read(tmp_path: Path, codec: str) -> None:
    source = write_eml(tmp_path / "plain.eml", tmp_path)
    utf8 = extract_document(source)
    wide = tmp_path / "wide.eml"
    wide.write_bytes(source.read_bytes().decode("utf-8").encode(codec))
    doc = extract_document(wide)
    assert doc.title == utf8.title
    assert doc.text == utf8.text


# --------------------------------------------------------------------------- scanned PDFs (OCR)


def _scanned_pdf(path: Path, tmp: Path, lines: list[str]) -> Path:
    """A PDF page that is only a picture of text, as a scanner makes it (no text layer)."""
    from PIL import Image

    image = Image.open(write_text_image(tmp / f"{path.stem}.png", lines))
    image.convert("RGB").save(str(path), "PDF", resolution=100)
    return path


def test_scanned_pdf_pages_are_read_through_ocr(tmp_path: Path) -> None:
    path = _scanned_pdf(tmp_path / "scan.pdf", tmp_path, ["Invoice 4711", "Total 88 EUR"])
    doc = extract_document(path)
    text = doc.text.replace(" ", "")
    assert "Invoice4711" in text and "Total88EUR" in text
    assert doc.pages == 1 and {b.page for b in doc.blocks} == {1}


def test_mixed_pdf_ocrs_only_the_scanned_page_and_keeps_page_numbers(tmp_path: Path, monkeypatch) -> None:
    import pypdfium2 as pdfium

    from mbdg_assets.extract.formats import pdf as pdf_format

    scan = _scanned_pdf(tmp_path / "scan.pdf", tmp_path, ["Delivery note 93"])
    merged = pdfium.PdfDocument.new()
    merged.import_pages(pdfium.PdfDocument(pdf_bytes(["The typed cover letter of the shipment."])))
    merged.import_pages(pdfium.PdfDocument(scan.read_bytes()))
    merged.import_pages(pdfium.PdfDocument(pdf_bytes(["A typed appendix after the scan."])))
    path = tmp_path / "mixed.pdf"
    merged.save(str(path))
    rendered: list[int] = []
    original = pdf_format.ocr_page
    monkeypatch.setattr(pdf_format, "ocr_page", lambda pdf, index: rendered.append(index) or original(pdf, index))
    doc = extract_document(path)
    assert rendered == [1]  # the typed pages were not rendered
    by_page = {b.page: b.text for b in doc.blocks}
    assert "cover letter" in by_page[1] and "appendix" in by_page[3]
    assert "Deliverynote93" in by_page[2].replace(" ", "")


# --------------------------------------------------------------------------- archives


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_zip_members_are_documents_attributed_by_their_path_inside(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", {"deep/note.txt": b"The deepest note mentions basil."})
    path = _zip(tmp_path / "bundle.zip", {
        "reports/q1.md": b"# Quarter one\n\nSales rose by nine percent.",
        "reports/q1.pdf": pdf_bytes(["The PDF says the warehouse moved."]),
        "nested.zip": inner.read_bytes(),
        "broken.docx": b"PK\x03\x04 not really a docx",
        "__MACOSX/._q1.md": b"resource fork",
    })
    doc = extract_document(path)
    assert doc.format == "zip"
    titles = {title: level for level, _, title in headings(doc)}
    assert titles["# bundle.zip/reports/q1.md"] == 1 and titles["# bundle.zip/reports/q1.pdf"] == 1
    assert titles["# bundle.zip/nested.zip/deep/note.txt"] == 2  # below '# bundle.zip/nested.zip'
    assert titles["# Quarter one"] == 2  # the member's own headings nest below its name
    assert not any("__MACOSX" in t for t in titles)
    by_path = {b.heading_path[0]: b.text for b in doc.blocks if b.kind == "paragraph" and b.heading_path}
    assert "nine percent" in by_path["bundle.zip/reports/q1.md"]
    assert "warehouse moved" in by_path["bundle.zip/reports/q1.pdf"]
    assert "not read: " in by_path["bundle.zip/broken.docx"]  # one bad member is a note, not a failure
    assert any("basil" in b.text and b.heading_path[-1] == "bundle.zip/nested.zip/deep/note.txt" for b in doc.blocks)


def test_tar_gz_and_single_gzip_files(tmp_path: Path) -> None:
    import gzip
    import io
    import tarfile

    path = tmp_path / "docs.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, content in {"docs/a.txt": b"Alpha says hello.", "docs/b.md": b"# Bravo\n\nBravo says goodbye."}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    doc = extract_document(path)
    assert doc.format == "tar"
    assert [b.heading_path for b in doc.blocks if "Alpha" in b.text] == [("docs.tar.gz/docs/a.txt",)]
    assert "Bravo says goodbye." in doc.text
    single = tmp_path / "notes.txt.gz"
    single.write_bytes(gzip.compress(b"A gzipped note about roasting."))
    assert "gzipped note" in extract_document(single).text


def test_archive_limits_are_the_shared_extraction_limits(tmp_path: Path) -> None:
    from mbdg_assets.extract.formats import archive
    from mbdg_assets.extract.extraction import parse_bytes
    from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits

    bomb = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"0" * (20 << 20)})
    with pytest.raises(ExtractionError) as error:
        extract_document(bomb)
    assert error.value.code == "too_large" and "zip bomb" in error.value.message
    many = _zip(tmp_path / "many.zip", {f"n{i}.txt": b"note %d" % i for i in range(12)})
    with pytest.raises(ExtractionError) as error:
        archive.extract_zip(many, many.read_bytes(), 0, parse_bytes, ExtractionLimits(max_archive_entries=10))
    assert error.value.code == "too_many_parts"
    with pytest.raises(ExtractionError) as error:
        archive.extract_zip(many, many.read_bytes(), 0, parse_bytes, ExtractionLimits(max_decompressed_bytes=40))
    assert error.value.code == "too_large"
    nested = _zip(tmp_path / "z4.zip", {"x.txt": b"deep text"})
    for level in (3, 2, 1, 0):  # z0 > z1 > z2 > z3 > z4 > x.txt
        nested = _zip(tmp_path / f"z{level}.zip", {nested.name: nested.read_bytes(), "readme.txt": b"Level %d" % level})
    doc = extract_document(nested)
    assert f"nested deeper than {DEFAULT_LIMITS.max_archive_depth} levels" in doc.text and "deep text" not in doc.text
