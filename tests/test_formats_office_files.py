"""Formats offices actually have (issue 15): wide-encoded text and mail, scanned PDFs through OCR,
archives, XML / YAML / Org / source code, BMP / HEIC, signed mail, legacy Word / PowerPoint, and the
fallback between our parsers and docling. Every test builds its file with known content."""

from __future__ import annotations

from pathlib import Path

import pytest

from format_files import write_eml
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
