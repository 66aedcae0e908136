"""Formats offices actually have (issue 15): wide-encoded text and mail, scanned PDFs through OCR,
archives, XML / YAML / Org / source code, BMP / HEIC, signed mail, legacy Word / PowerPoint, and the
fallback between our parsers and docling. Every test builds its file with known content."""

from __future__ import annotations

from pathlib import Path

import pytest

from format_files import pdf_bytes, write_eml, write_text_image
from mbdg_assets.extract.document import ExtractedDocument
from mbdg_assets.extract.extraction import ExtractionError, extract_document
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


CJK = {"zh": "北京咖啡烘焙厂每周二收到生豆。\n麻袋称重并登记，然后送入烘焙机。\n",
       "ja": "東京の焙煎所では、毎週火曜日に生豆が届きます。袋は計量され、記録されます。",  # no ASCII, no NUL byte
       "ko": "서울의 로스터리는 매주 화요일에 생두를 받습니다. 자루는 무게를 달아 기록합니다."}


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("language", sorted(CJK))
def test_utf16_without_a_bom_in_cjk_scripts_is_recognised_by_decoding(tmp_path: Path, codec: str, language: str) -> None:
    data = CJK[language].encode(codec)
    assert text_encoding(data) == codec
    path = tmp_path / f"{language}.txt"
    path.write_bytes(data)
    assert extract_document(path).text == CJK[language].strip()


@pytest.mark.parametrize(("text", "codec"), [
    ("Bush hid the facts", "cp1252"),  # the classic: these bytes also decode as valid 'CJK' UTF-16
    ("Résumé, café, naïve garçon: déjà vu.\r\n" * 30, "cp1252"), ("Grüße aus Köln, schöne Straße.", "cp1252"),
    ("Zürich: “Kaffee” – 3 €", "cp1252"), ("café “quoted”!", "cp1252"),  # short, even length, few ASCII bytes
    (CJK["zh"] * 20, "gbk"), (CJK["ja"] * 20, "shift_jis"), (CJK["ko"] * 20, "euc-kr"),
])
def test_byte_encodings_of_any_script_are_not_taken_for_utf16(text: str, codec: str) -> None:
    assert text_encoding(text.encode(codec)) is None


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
    changelog = tmp_path / "changelog.Debian.gz"  # gzipped alone, named without a known suffix: text if it is text
    changelog.write_bytes(gzip.compress(b"roaster (1.2-1) unstable; urgency=low\n\n  * New drum motor.\n"))
    assert "New drum motor." in extract_document(changelog).text
    binary = tmp_path / "blob.bin.gz"
    binary.write_bytes(gzip.compress(bytes(range(256)) * 4))
    with pytest.raises(ExtractionError) as error:
        extract_document(binary)
    assert error.value.code == "no_text" and "unsupported_format" in error.value.message


def test_archive_limits_are_the_shared_extraction_limits(tmp_path: Path) -> None:
    from mbdg_assets.extract.formats import archive
    from mbdg_assets.extract.extraction import parse_bytes
    from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits, reading

    bomb = _zip(tmp_path / "bomb.zip", {"zeros.txt": b"0" * (20 << 20)})
    with pytest.raises(ExtractionError) as error:
        extract_document(bomb)
    assert error.value.code == "too_large" and "zip bomb" in error.value.message
    many = _zip(tmp_path / "many.zip", {f"n{i}.txt": b"note %d" % i for i in range(12)})
    with pytest.raises(ExtractionError) as error, reading(many.name, ExtractionLimits(max_archive_entries=10)):
        archive.extract_zip(many, many.read_bytes(), 0, parse_bytes)
    assert error.value.code == "too_many_parts"
    with pytest.raises(ExtractionError) as error, reading(many.name, ExtractionLimits(max_decompressed_bytes=40)):
        archive.extract_zip(many, many.read_bytes(), 0, parse_bytes)
    assert error.value.code == "too_large"
    nested = _zip(tmp_path / "z4.zip", {"x.txt": b"deep text"})
    for level in (3, 2, 1, 0):  # z0 > z1 > z2 > z3 > z4 > x.txt
        nested = _zip(tmp_path / f"z{level}.zip", {nested.name: nested.read_bytes(), "readme.txt": b"Level %d" % level})
    doc = extract_document(nested)
    assert f"nested deeper than {DEFAULT_LIMITS.max_archive_depth} levels" in doc.text and "deep text" not in doc.text


# --------------------------------------------------------------------------- YAML, XML, Org, code


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_reads_like_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "roastery.yaml", """
site: Zürich roastery
opened: 2019-04-01
defaults: &defaults {unit: kg}
beans:
  - {name: Arabica, origin: Brazil, kg: 120}
  - {name: Robusta, origin: Vietnam, kg: 80}
shipping:
  <<: *defaults
  carrier: Rhenus
---
second: document
""")
    doc = extract_document(path)
    assert doc.format == "yaml"
    assert [title for _, _, title in headings(doc)] == ["# document 1", "## defaults", "## beans", "## shipping", "# document 2"]
    assert "site: Zürich roastery\nopened: 2019-04-01" in doc.text
    assert "| Arabica | Brazil | 120 |" in kinds(doc, "table")[0]
    assert any(b.heading_path == ("document 1", "shipping") and "carrier: Rhenus" in b.text and "unit: kg" in b.text
               for b in doc.blocks)


def test_yaml_alias_bomb_is_bounded_and_bad_yaml_is_corrupt(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "bomb.yml", "\n".join(lines)))
    assert error.value.code == "too_large"
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "bad.yaml", "key: [unclosed\n  - : :"))
    assert error.value.code == "corrupt_file"


def test_xml_element_paths_become_headings(tmp_path: Path) -> None:
    path = _write(tmp_path, "catalog.xml", """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE catalog [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<catalog xmlns="urn:example:books">
  <!-- a comment that is not text -->
  <book id="bk101" lang="en">
    <author>Gambardella, Matthew</author>
    <title>XML Developer's Guide</title>
    <description>An in-depth look at creating applications with XML, from the first element to the
      last schema, with <em>many</em> examples that run as they are printed.</description>
    <leak>&secret;</leak>
  </book>
  <book id="bk102"><author>Ralls, Kim</author><title>Midnight Rain</title></book>
</catalog>""")
    doc = extract_document(path)
    assert doc.format == "xml" and doc.title == "catalog"
    assert [(level, title) for level, _, title in headings(doc)] == [(1, "# catalog"), (2, "## book (id=bk101)"), (2, "## book (id=bk102)")]
    first = [b for b in doc.blocks if b.heading_path == ("catalog", "book (id=bk101)")]
    assert "@lang: en\nauthor: Gambardella, Matthew\ntitle: XML Developer's Guide\ndescription" == first[0].text
    assert any(b.text.startswith("An in-depth look") and "with many examples" in b.text for b in first)
    menu = extract_document(_write(tmp_path, "menu.xml", '<m:menu xmlns:m="urn:m"><m:item m:id="cut"/>'
                                                         '<m:item m:id="copy" m:key="C"/></m:menu>'))
    assert "item [id=cut]\nitem [id=copy key=C]" in menu.text  # empty elements keep their attributes
    assert "root:" not in doc.text and "comment" not in doc.text  # no external entity, no comments
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "cut.xml", "<a><b>text</b><c>more"))
    assert error.value.code in ("truncated", "corrupt_file")


def test_org_mode(tmp_path: Path) -> None:
    path = _write(tmp_path, "plan.org", """#+TITLE: Roastery plan
* TODO Buy beans                                           :shopping:
  :PROPERTIES:
  :ID: 1234
  :END:
Order from [[https://example.org][the cooperative]] every month.
** Suppliers
- Brazil: Cooxupé
- Vietnam: Simexco
| bean    | kg  |
|---------+-----|
| Arabica | 120 |
#+begin_src python
print("roast")
#+end_src
# a comment line
* Done items
""")
    doc = extract_document(path)
    assert [(level, title) for level, _, title in headings(doc)][:3] == [
        (1, "#+TITLE: Roastery plan"), (1, "* TODO Buy beans                                           :shopping:"), (2, "** Suppliers")]
    assert [b.heading_path for b in doc.blocks if b.kind == "heading"][2] == ("Buy beans",)
    assert "Order from the cooperative every month." in kinds(doc, "paragraph")
    assert kinds(doc, "list") == ["- Brazil: Cooxupé\n- Vietnam: Simexco"]
    assert kinds(doc, "table") == ["| bean | kg |\n|---|---|\n| Arabica | 120 |"]
    assert kinds(doc, "code") == ['```python\nprint("roast")\n```']
    assert "ID: 1234" not in doc.text and "a comment line" not in doc.text


PYTHON = '''"""Roast planning: which beans go into which batch."""

import math

# The hottest a drum may run.
MAX_TEMP = 230


class Roaster:
    """One drum roaster and its schedule."""

    size_kg = 15

    def batches(self, kg: float) -> int:
        """How many batches ``kg`` of green beans need."""
        return math.ceil(kg / self.size_kg)

    colour = "brown"  # a class attribute after a method is code too


@dataclass
class Batch:
    kg: float


# Cooling takes as long as the last third of the roast.
def cooling_minutes(roast_minutes: float) -> float:
    return roast_minutes / 3
'''


def test_python_source_as_a_code_document(tmp_path: Path) -> None:
    doc = extract_document(_write(tmp_path, "roasting.py", PYTHON))
    assert doc.format == "python"
    assert [(level, title) for level, _, title in headings(doc)] == [
        (1, "# module roasting"), (2, "## class Roaster"), (3, "### def batches"), (2, "## class Batch"),
        (2, "## def cooling_minutes")]
    text_of = {b.heading_path[-1]: b.text for b in doc.blocks if b.kind == "paragraph"}
    assert text_of["module roasting"] == "Roast planning: which beans go into which batch."
    assert text_of["class Roaster"] == "One drum roaster and its schedule."
    assert text_of["def batches"] == "How many batches ``kg`` of green beans need."
    assert text_of["def cooling_minutes"] == "Cooling takes as long as the last third of the roast."
    code = "\n".join(kinds(doc, "code"))
    for line in PYTHON.split("\n"):  # every line of code is in some code block
        if line.strip() and not line.strip().startswith(("#", '"""')):
            assert line in code, line


SOURCES = {
    "server.go": ("package main\n\n// Server answers roast orders.\ntype Server struct {\n\tport int\n}\n\n"
                  "// Start listens on the port.\nfunc (s *Server) Start() error {\n\treturn nil\n}\n",
                  ["type Server", "func Start"], {"type Server": "Server answers roast orders.", "func Start": "Start listens on the port."}),
    "cart.ts": ("/** A shopping cart. */\nexport class Cart {\n  items: string[] = [];\n}\n\n"
                "/**\n * Total price in cents.\n */\nexport function total(cart: Cart): number {\n  return 0;\n}\n",
                ["class Cart", "function total"], {"class Cart": "A shopping cart.", "function total": "Total price in cents."}),
    "app.js": ("// Greets the user.\nfunction greet(name) {\n  return `hi ${name}`;\n}\n",
               ["function greet"], {"function greet": "Greets the user."}),
    "Order.java": ("package shop;\n\n/** One order. */\npublic class Order {\n    /** The order's total. */\n"
                   "    public int total(int items) {\n        return items * 3;\n    }\n}\n",
                   ["class Order", "function total"], {"class Order": "One order.", "function total": "The order's total."}),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_other_languages_by_their_declarations(tmp_path: Path, name: str) -> None:
    source, titles, comments = SOURCES[name]
    doc = extract_document(_write(tmp_path, name, source))
    assert doc.format == "code"
    assert [title for _, _, title in headings(doc)][1:] == [f"{'#' * (2 if i == 0 or name != 'Order.java' else 3)} {t}"
                                                          for i, t in enumerate(titles)]
    text_of = {b.heading_path[-1]: b.text for b in doc.blocks if b.kind == "paragraph"}
    assert {t: text_of.get(t) for t in comments} == comments
    code = "\n".join(kinds(doc, "code"))
    assert all(line in code for line in source.split("\n") if line.strip() and not line.strip().startswith(("/", "*")))


QT_TS = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de_DE">
<context>
    <name>RoastDialog</name>
    <message>
        <location filename="roastdialog.cpp" line="42"/>
        <source>Start roasting</source>
        <translation>Röstung starten</translation>
    </message>
    <message>
        <source>Beans weighed: %1 kg</source>
        <translation type="unfinished">Bohnen gewogen: %1 kg</translation>
        <translatorcomment>kg stays</translatorcomment>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message><source>&amp;Quit</source><translation>&amp;Beenden</translation></message>
</context>
</TS>
"""


@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
def test_ts_is_a_qt_translation_file_by_its_content_else_typescript(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "roaster_de.ts"
    path.write_bytes(QT_TS.encode(codec))
    doc = extract_document(path)
    assert doc.format == "qt_translation" and doc.title == "roaster_de translations (de_DE)"
    assert [title for _, _, title in headings(doc)][1:] == ["## RoastDialog", "## MainWindow"]
    tables = kinds(doc, "table")
    assert "| Start roasting | Röstung starten |  |" in tables[0] and "| Beans weighed: %1 kg | Bohnen gewogen: %1 kg | kg stays |" in tables[0]
    assert tables[1].splitlines()[-1] == "| &Quit | &Beenden |"
    typescript = _write(tmp_path, "cart.ts", SOURCES["cart.ts"][0])
    assert extract_document(typescript).format == "code"
    generic = _write(tmp_path, "generic.ts", "// a TypeScript file that mentions <TS> in a comment\nconst a = 1;\n")
    assert extract_document(generic).format == "code"


ODF_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
            'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"><office:body>')
ODF_BODIES = {
    ".ots": ("spreadsheet", '<office:spreadsheet><table:table table:name="Budget"><table:table-row>'
             '<table:table-cell><text:p>Item</text:p></table:table-cell><table:table-cell><text:p>Cost</text:p>'
             '</table:table-cell><table:table-cell table:number-columns-repeated="1000"/></table:table-row>'
             '<table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row>'
             '<table:table-row><table:table-cell><text:p>Green beans</text:p></table:table-cell>'
             '<table:table-cell><text:p>420</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>'),
    ".otp": ("presentation", '<office:presentation><draw:page draw:name="Welcome"><draw:frame><draw:text-box>'
             '<text:p>Roastery onboarding</text:p></draw:text-box></draw:frame></draw:page>'
             '<draw:page draw:name="Empty"><draw:frame><draw:text-box/></draw:frame></draw:page>'
             '<draw:page><draw:frame><draw:text-box><text:p>Safety first</text:p></draw:text-box></draw:frame>'
             '</draw:page></office:presentation>'),
    ".odg": ("graphics", '<office:drawing><draw:page draw:name="Floor plan"><draw:frame><draw:text-box>'
             '<text:p>Roaster by the north wall</text:p></draw:text-box></draw:frame></draw:page></office:drawing>'),
}


@pytest.mark.parametrize("suffix", sorted(ODF_BODIES))
def test_opendocument_spreadsheets_presentations_drawings_and_templates(tmp_path: Path, suffix: str) -> None:
    import zipfile

    kind, body = ODF_BODIES[suffix]
    path = tmp_path / f"office{suffix}"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", f"application/vnd.oasis.opendocument.{kind}")
        archive.writestr("content.xml", ODF_HEAD + body + "</office:body></office:document-content>")
    doc = extract_document(path)
    expected = {".ots": (["## Budget"], ["| Item | Cost |\n|---|---|\n| Green beans | 420 |"]),
                ".otp": (["## Welcome", "## Slide 3"], []), ".odg": (["## Floor plan"], [])}[suffix]
    assert [title for _, _, title in headings(doc)] == expected[0]  # no heading for an empty template page
    assert kinds(doc, "table") == expected[1]  # a million repeated empty rows are not text
    if suffix == ".otp":
        assert kinds(doc, "paragraph") == ["Roastery onboarding", "Safety first"]
    styles_only = tmp_path / f"styles{suffix}"
    with zipfile.ZipFile(styles_only, "w") as archive:
        archive.writestr("mimetype", f"application/vnd.oasis.opendocument.{kind}")
        archive.writestr("styles.xml", "<office:document-styles/>")
    with pytest.raises(ExtractionError) as error:
        extract_document(styles_only)
    assert error.value.code == "no_text"


# --------------------------------------------------------------------------- BMP, HEIC


def test_bmp_goes_through_ocr(tmp_path: Path) -> None:
    path = write_text_image(tmp_path / "scan.bmp", ["Invoice 4711"])
    assert path.read_bytes()[:2] == b"BM"
    doc = extract_document(path)
    assert doc.format == "image" and "Invoice4711" in doc.text.replace(" ", "")


@pytest.mark.parametrize("suffix, magic", [(".gif", b"GIF8"), (".webp", b"RIFF"), (".pnm", b"P6\n")])
def test_gif_webp_and_netpbm_go_through_ocr(tmp_path: Path, suffix: str, magic: bytes) -> None:
    path = write_text_image(tmp_path / f"scan{suffix}", ["Invoice 4711"])
    assert path.read_bytes()[:len(magic)] == magic
    doc = extract_document(path)
    assert doc.format == "image" and "Invoice4711" in doc.text.replace(" ", "")


def test_a_png_named_gif_is_refused_by_its_magic(tmp_path: Path) -> None:
    path = write_text_image(tmp_path / "scan.png", ["Invoice 4711"]).rename(tmp_path / "scan.gif")
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code == "wrong_extension" and "PNG" in error.value.message.upper()


HEIC_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "invoice.heic"  # 'Invoice 4711', encoded once with heif-enc (x265)


def test_heic_goes_through_ocr() -> None:
    if not HEIC_SAMPLE.exists():
        pytest.skip("no HEIC sample shipped")
    doc = extract_document(HEIC_SAMPLE)
    assert doc.format == "image" and "Invoice4711" in doc.text.replace(" ", "")


def test_heic_magic_and_missing_decoder(tmp_path: Path, monkeypatch) -> None:
    import sys

    fake = tmp_path / "photo.heic"
    fake.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    monkeypatch.setitem(sys.modules, "pi_heif", None)  # as if pi-heif were not installed
    with pytest.raises(ExtractionError) as error:
        extract_document(fake)
    assert error.value.code == "parser_unavailable" and "pip install pi-heif" in error.value.message
    not_heic = tmp_path / "other.heic"
    not_heic.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ExtractionError) as error:
        extract_document(not_heic)
    assert error.value.code == "wrong_extension" and ".png" in error.value.message


# --------------------------------------------------------------------------- S/MIME


def _signer():
    import datetime

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ana@example.com")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert, key


def _sign(content: bytes, encoding: str, detached: bool) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, key = _signer()
    options = [pkcs7.PKCS7Options.DetachedSignature] if detached else []
    return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
            .sign(getattr(serialization.Encoding, encoding), options))


SIGNED_BODY = (b"From: Ana Silva <ana@example.com>\r\nTo: team@example.com\r\nSubject: Signed price list\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\nArabica costs 7 EUR per kg from January.\r\n")


def test_opaque_signed_p7m_is_read_as_the_mail_inside(tmp_path: Path) -> None:
    for encoding, name in (("DER", "signed.p7m"), ("PEM", "signed-pem.p7m")):
        path = tmp_path / name
        path.write_bytes(_sign(SIGNED_BODY, encoding, detached=False))
        doc = extract_document(path)
        assert doc.format == "smime" and doc.title == "Signed price list"
        assert "Arabica costs 7 EUR per kg" in doc.text


def test_multipart_signed_mail_reads_the_message_not_the_signature(tmp_path: Path) -> None:
    path = tmp_path / "signed.eml"
    path.write_bytes(SIGNED_BODY.split(b"Content-Type")[0] + _sign(b"Content-Type: text/plain\r\n\r\nThe signed body text.\r\n",
                                                                   "SMIME", detached=True))
    doc = extract_document(path)
    assert doc.title == "Signed price list" and "The signed body text." in doc.text
    assert "Attachment" not in doc.text and "not read" not in doc.text  # smime.p7s skipped, not a failed attachment


def test_detached_signature_alone_says_it_holds_no_message(tmp_path: Path) -> None:
    path = tmp_path / "smime.p7s"
    path.write_bytes(_sign(SIGNED_BODY, "DER", detached=True))
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code == "no_text" and "detached S/MIME signature" in error.value.message


# --------------------------------------------------------------------------- legacy .doc / .ppt


def _legacy(tmp_path: Path, source: Path, target: str) -> Path:
    """A legacy binary file made by LibreOffice itself from a file we built."""
    from mbdg_assets.extract.formats import legacy_office

    out = tmp_path / f"legacy.{target}"
    out.write_bytes(legacy_office.convert(source, source.read_bytes(), target))
    return out


needs_soffice = pytest.mark.skipif(
    not __import__("shutil").which("soffice"), reason="LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")


@needs_soffice
def test_legacy_doc_through_libreoffice(tmp_path: Path) -> None:
    from format_files import write_docx

    modern = extract_document(write_docx(tmp_path / "modern.docx"))
    path = _legacy(tmp_path, tmp_path / "modern.docx", "doc")
    assert path.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"
    doc = extract_document(path)
    assert doc.format == "doc" and doc.parser == "libreoffice+native"
    assert [t for _, _, t in headings(doc)] == [t for _, _, t in headings(modern)]
    assert kinds(doc, "table") == kinds(modern, "table")


@needs_soffice
def test_legacy_ppt_through_libreoffice(tmp_path: Path) -> None:
    from format_files import write_pptx

    modern = extract_document(write_pptx(tmp_path / "modern.pptx"))
    doc = extract_document(_legacy(tmp_path, tmp_path / "modern.pptx", "ppt"))
    assert doc.format == "ppt" and doc.pages == modern.pages
    assert [t for _, _, t in headings(doc)] == [t for _, _, t in headings(modern)]


def test_legacy_office_without_libreoffice_names_what_to_install(tmp_path: Path, monkeypatch) -> None:
    from mbdg_assets.extract.formats import legacy_office

    monkeypatch.setattr(legacy_office, "soffice", lambda: None)
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code == "parser_unavailable" and "libreoffice-writer-nogui" in error.value.message


# --------------------------------------------------------------------------- native <-> docling fallback


def _broken_docx(tmp_path: Path) -> Path:
    """A .docx whose document part is not XML: python-docx cannot read it."""
    import zipfile

    path = tmp_path / "odd.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "this is not xml")
    return path


@pytest.fixture
def fake_docling(monkeypatch):
    """Stands in for docling's conversion (not installed here) to exercise the chain itself: which
    parser runs when, and what the document and the error say. No claim about docling's output."""
    from mbdg_assets.extract.formats import docling_backend
    from mbdg_assets.extract.formats.base import Draft, Parsed

    calls: list[str] = []
    outcome: dict[str, object] = {"error": None}

    def extract(path: Path, data: bytes, fmt: str) -> Parsed:
        calls.append(fmt)
        if outcome["error"]:
            raise outcome["error"]
        return Parsed([Draft("paragraph", "read by the second parser")])

    monkeypatch.setattr(docling_backend, "docling_installed", lambda: True)
    monkeypatch.setattr(docling_backend, "extract", extract)
    return calls, outcome


def test_native_failure_falls_back_to_docling_and_says_so(tmp_path: Path, fake_docling) -> None:
    calls, _ = fake_docling
    doc = extract_document(_broken_docx(tmp_path))
    assert calls == ["docx"] and doc.text == "read by the second parser"
    assert doc.parser == "docling (after native failed: corrupt_file)"
    from format_files import write_docx

    assert extract_document(write_docx(tmp_path / "fine.docx")).parser == "native" and calls == ["docx"]


def test_no_fallback_when_a_parser_is_chosen_or_the_file_is_cut_off(tmp_path: Path, fake_docling) -> None:
    calls, _ = fake_docling
    with pytest.raises(ExtractionError) as error:
        extract_document(_broken_docx(tmp_path), parser="native")
    assert error.value.code == "corrupt_file" and calls == []
    cut = tmp_path / "cut.docx"
    cut.write_bytes(_broken_docx(tmp_path).read_bytes()[:40])
    with pytest.raises(ExtractionError) as error:
        extract_document(cut)
    assert error.value.code == "truncated" and calls == []


def test_when_both_parsers_fail_the_error_names_both(tmp_path: Path, fake_docling) -> None:
    calls, outcome = fake_docling
    outcome["error"] = ExtractionError("corrupt_file", "odd.docx: docling could not read it (bad part)")
    with pytest.raises(ExtractionError) as error:
        extract_document(_broken_docx(tmp_path))
    assert error.value.code == "corrupt_file" and calls == ["docx"]
    assert "not a readable Word document" in error.value.message and "[native]; docling also failed" in error.value.message


def test_auto_docling_formats_fall_back_to_native(tmp_path: Path, fake_docling) -> None:
    from format_files import write_xlsx

    calls, outcome = fake_docling
    outcome["error"] = ExtractionError("corrupt_file", "book.xlsx: docling could not read it")
    doc = extract_document(write_xlsx(tmp_path / "book.xlsx"))  # "auto" reads XLSX with docling first
    assert calls == ["xlsx"] and doc.parser == "native (after docling failed: corrupt_file)"


def test_doc_that_is_rtf_or_plain_text_is_read_as_what_it_is(tmp_path: Path) -> None:
    rtf = tmp_path / "letter.doc"
    rtf.write_bytes(b"{\\rtf1\\ansi Dear team,\\par The roastery opens at nine.\\par}")
    assert "The roastery opens at nine." in extract_document(rtf).text
    text = tmp_path / "README.doc"
    text.write_text("USAGE\n\nRun the roaster for twelve minutes.", encoding="utf-8")
    assert extract_document(text).text == "USAGE\n\nRun the roaster for twelve minutes."
    pdf = tmp_path / "misnamed.doc"
    pdf.write_bytes(pdf_bytes(["A PDF"]))
    with pytest.raises(ExtractionError) as error:
        extract_document(pdf)
    assert error.value.code == "wrong_extension" and ".pdf" in error.value.message


# --------------------------------------------------------------------------- man pages, YAML tags

MAN_PAGE = r""".\" Comment: not text
.TH ROAST 1 "2026-01-01" "roast 1.0" "User Commands"
.SH NAME
roast \- roast a batch of green coffee
.SH SYNOPSIS
.B roast
[\fB\-t\fR \fIminutes\fR]
.SH DESCRIPTION
.PP
\fBroast\fP heats the drum and logs the batch.
.IP "\-t minutes" 4
Roast for
.I minutes
(default 12).
.SS Cooling
The beans cool for a third of the roast time.
"""


def test_man_pages_plain_and_gzipped(tmp_path: Path) -> None:
    import gzip

    page = tmp_path / "roast.1"
    page.write_text(MAN_PAGE, encoding="utf-8")
    doc = extract_document(page)
    assert doc.format == "man" and doc.title == "ROAST(1)"
    assert [(level, title) for level, _, title in headings(doc)] == [
        (1, "# ROAST(1)"), (2, "## NAME"), (2, "## SYNOPSIS"), (2, "## DESCRIPTION"), (3, "### Cooling")]
    assert "roast - roast a batch of green coffee" in doc.text
    assert "roast heats the drum and logs the batch." in doc.text
    assert "-t minutes Roast for minutes (default 12)." in doc.text
    assert "Comment" not in doc.text and "\\f" not in doc.text
    packed = tmp_path / "roast.1ssl.gz"
    packed.write_bytes(gzip.compress(MAN_PAGE.encode()))
    assert "roast heats the drum" in extract_document(packed).text


def test_yaml_application_tags_are_read_as_text_never_constructed(tmp_path: Path) -> None:
    path = _write(tmp_path, "stack.yaml", "Name: !Sub '${Stack}-logs'\nRef: !REF googlecloudsdk.x:y\n"
                                          "Danger: !!python/object/apply:os.system ['echo owned']\n")
    doc = extract_document(path)
    assert "Name: !Sub ${Stack}-logs" in doc.text and "Ref: !REF googlecloudsdk.x:y" in doc.text
    assert "echo owned" in doc.text and "owned\n" not in doc.text  # the tag is text; nothing ran


def test_arrow_functions_gnu_style_c_and_comment_prose(tmp_path: Path) -> None:
    js = extract_document(_write(tmp_path, "mkdir.js", "// Makes the folder.\nconst mkdir = (dir, cb) => {\n  cb(dir);\n};\n"
                                                        "export const rm = async function (dir) {\n  return dir;\n};\n"))
    assert [t for _, _, t in headings(js)][1:] == ["## function mkdir", "## function rm"]
    c = extract_document(_write(tmp_path, "tool.c", "/* Prints usage and\n   exits directly (with status)\n*/\n"
                                                    "static void\nusage (int status)\n{\n  exit (status);\n}\n"))
    assert [t for _, _, t in headings(c)][1:] == ["## function usage"]
    assert "Prints usage and\nexits directly (with status)" in c.text


# --------------------------------------------------------------------------- files named without a suffix


def test_text_named_without_a_suffix_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "README"
    path.write_text("Northwind roastery\n\nThe roaster is cleaned every Friday after the last batch.\n")
    doc = extract_document(path)
    assert doc.format == "text" and "cleaned every Friday" in doc.text


def test_a_pdf_named_without_a_suffix_is_told_to_be_renamed(tmp_path: Path) -> None:
    path = tmp_path / "report"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code == "wrong_extension" and ".pdf" in error.value.message


def test_binary_named_without_a_suffix_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes([0, 159, 146, 150, 1, 0, 255, 0]) * 64)
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code == "unsupported_format" and "no suffix, not text" in error.value.message


# --------------------------------------------------------------------------- Office variants and more text kinds

_MAIN_TYPES = {  # what a variant's [Content_Types].xml says its main part is (the only difference to the plain file)
    ".docm": "application/vnd.ms-word.document.macroEnabled.main+xml",
    ".dotx": "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    ".dotm": "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
    ".potx": "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
    ".ppsx": "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    ".pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    ".potm": "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
    ".ppsm": "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    ".xltx": "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    ".xltm": "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_PLAIN_TYPES = {"w": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                "p": "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
                "x": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"}


def _variant(plain: Path, suffix: str) -> Path:
    """``plain`` (a .docx / .pptx / .xlsx we built) saved as ``suffix``: its main part's content type changed."""
    import zipfile

    kind = {"d": "w", "p": "p", "x": "x"}[suffix[1]]
    out = plain.with_suffix(suffix)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                assert _PLAIN_TYPES[kind].encode() in data
                data = data.replace(_PLAIN_TYPES[kind].encode(), _MAIN_TYPES[suffix].encode())
            target.writestr(info, data)
    return out


@pytest.mark.parametrize("suffix", sorted(_MAIN_TYPES))
def test_macro_enabled_and_template_office_files_read_like_the_plain_ones(tmp_path: Path, suffix: str) -> None:
    from format_files import write_docx, write_pptx, write_xlsx

    writer, plain_suffix = {"d": (write_docx, ".docx"), "p": (write_pptx, ".pptx"), "x": (write_xlsx, ".xlsx")}[suffix[1]]
    source = writer(tmp_path / f"plain{plain_suffix}")
    plain, variant = extract_document(source), extract_document(_variant(source, suffix))
    assert variant.format == plain.format
    assert [b.text for b in variant.blocks] == [b.text for b in plain.blocks] and variant.blocks


def test_a_word_package_whose_main_part_is_not_a_document_is_refused(tmp_path: Path) -> None:
    from format_files import write_pptx

    deck = write_pptx(tmp_path / "deck.pptx")
    path = tmp_path / "deck.docx"
    path.write_bytes(deck.read_bytes())
    with pytest.raises(ExtractionError) as error:
        extract_document(path)
    assert error.value.code in ("wrong_extension", "corrupt_file") and "deck.docx" in error.value.message


@needs_soffice
@pytest.mark.parametrize(("writer", "suffix", "format_name"), [("write_docx", "dot", "doc"), ("write_pptx", "pps", "ppt")])
def test_legacy_templates_and_shows_read_like_their_documents(tmp_path: Path, writer: str, suffix: str, format_name: str) -> None:
    import format_files

    source = getattr(format_files, writer)(tmp_path / f"modern.{'docx' if suffix == 'dot' else 'pptx'}")
    modern = extract_document(source)
    doc = extract_document(_legacy(tmp_path, source, suffix))
    assert doc.format == format_name
    assert " ".join(doc.text.split()) == " ".join(modern.text.split())


@pytest.mark.parametrize("suffix", [".xls", ".xlt"])
def test_legacy_excel_workbooks_and_templates(tmp_path: Path, suffix: str) -> None:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Inventory")
    for r, row in enumerate([("Bean", "Origin", "Kg"), ("Arabica", "Brazil", 120), ("Robusta", "Vietnam", 80)]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.add_sheet("Prices").write(0, 0, "Bean")
    path = tmp_path / f"stock{suffix}"
    book.save(str(path))
    doc = extract_document(path)
    assert doc.format == "xls" and doc.pages == 2
    assert [t for _, _, t in headings(doc)][0].endswith("Inventory")
    assert any("| Robusta | Vietnam | 80 |" in t for t in kinds(doc, "table"))


def test_subtitles_become_paragraphs_by_speaker_and_pause(tmp_path: Path) -> None:
    vtt = _write(tmp_path, "meeting.vtt", "WEBVTT\nKind: captions\n\nNOTE written by the recorder\n\n"
                 "1\n00:00:01.000 --> 00:00:03.500\n<v Ann>The roaster is cleaned <i>every</i> Friday.\n\n"
                 "00:00:03.600 --> 00:00:05.000\n<v Ann>Its chaff tray daily.\n\n"
                 "00:00:05.200 --> 00:00:07.000\n<v Ben>Who keeps the log?\n\n"
                 "00:00:15.000 --> 00:00:17.000\n<v Ben>The shift lead does.\n")
    assert kinds(extract_document(vtt), "paragraph") == [
        "Ann: The roaster is cleaned every Friday. Its chaff tray daily.", "Ben: Who keeps the log?",
        "Ben: The shift lead does."]
    srt = _write(tmp_path, "talk.srt", "1\n00:00:01,000 --> 00:00:02,000\nGreen coffee arrives\non Tuesdays.\n\n"
                 "2\n00:00:02,100 --> 00:00:04,000\nIt is weighed at once.\n")
    doc = extract_document(srt)
    assert doc.format == "subtitles" and kinds(doc, "paragraph") == ["Green coffee arrives on Tuesdays. It is weighed at once."]
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "notes.srt", "just some words\n"))
    assert error.value.code == "corrupt_file" and "no timed cues" in error.value.message


def test_a_notebook_reads_as_its_markdown_and_code_cells(tmp_path: Path) -> None:
    import json

    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["# Roast curves\n", "\n", "We log the bean temperature every second."]},
        {"cell_type": "code", "source": "curve = load('batch-12.csv')\ncurve.plot()",
         "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}}]},
        {"cell_type": "markdown", "source": "## First crack\nIt comes at about 196 degrees."}],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    doc = extract_document(_write(tmp_path, "roast.ipynb", json.dumps(notebook)))
    assert doc.format == "notebook"
    assert [t for _, _, t in headings(doc)] == ["# Roast curves", "## First crack"]
    assert kinds(doc, "code") == ["```python\ncurve = load('batch-12.csv')\ncurve.plot()\n```"]
    assert "iVBORw0KGgo" not in doc.text and "about 196 degrees" in doc.text
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "other.ipynb", '{"name": "not a notebook"}'))
    assert error.value.code == "corrupt_file" and "Jupyter" in error.value.message


def test_toml_and_ini_settings(tmp_path: Path) -> None:
    toml = extract_document(_write(tmp_path, "roaster.toml", 'title = "Roaster settings"\n\n[drum]\ncharge_c = 200\n'
                                   'rests = 2026-01-05\n\n[[profiles]]\nname = "light"\nminutes = 9\n\n'
                                   '[[profiles]]\nname = "dark"\nminutes = 13\n'))
    assert toml.format == "toml"
    assert [t for _, _, t in headings(toml)] == ["# drum", "# profiles"]
    assert "charge_c: 200" in toml.text and "2026-01-05" in toml.text and "| dark | 13 |" in toml.text
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "bad.toml", "[drum\ncharge = \n"))
    assert error.value.code == "corrupt_file"

    ini = extract_document(_write(tmp_path, "roaster.ini", "; Settings for the Probat roaster.\n; Change them only after a test roast.\n"
                                  "[drum]\ncharge_c = 200\nspeed = 52\n\n# Gas in percent of the burner's maximum.\n[gas]\nstart = 60\n"))
    assert ini.format == "ini"
    assert [t for _, _, t in headings(ini)] == ["[drum]", "[gas]"]
    assert kinds(ini, "paragraph") == ["Settings for the Probat roaster. Change them only after a test roast.",
                                       "Gas in percent of the burner's maximum."]
    assert kinds(ini, "code") == ["charge_c = 200\nspeed = 52", "start = 60"]


def test_a_saved_web_page_reads_its_html_part(tmp_path: Path) -> None:
    page = ('From: <Saved by Blink>\nSubject: Roastery guide\nMIME-Version: 1.0\n'
            'Content-Type: multipart/related; type="text/html"; boundary="----b"\n\n'
            '------b\nContent-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n'
            'Content-Location: https://intranet/guide\n\n'
            '<html><head><title>Roastery guide</title></head><body><h2>Cooling</h2><p>Beans cool for f=\nour minutes.</p></body></html>\n'
            '------b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\nContent-Location: https://intranet/logo.png\n\n'
            'iVBORw0KGgo=\n------b--\n')
    doc = extract_document(_write(tmp_path, "guide.mht", page))
    assert doc.format == "mhtml"
    assert [t for _, _, t in headings(doc)] == ["# Roastery guide", "## Cooling"]
    assert "Beans cool for four minutes." in doc.text and "iVBOR" not in doc.text


def test_svg_keeps_the_drawings_words_not_its_geometry(tmp_path: Path) -> None:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80"><title>Roast flow</title>'
           '<g id="layer1"><rect x="1" y="1" width="50" height="20"/><path d="M20 196q0-25 4-49"/>'
           '<text x="5" y="15">Green <tspan font-weight="bold">coffee</tspan> store</text></g>'
           '<desc>Drawn by the roastery</desc><text x="5" y="50">Roaster number two</text></svg>')
    doc = extract_document(_write(tmp_path, "flow.svg", svg))
    assert doc.format == "svg"
    assert [t for _, _, t in headings(doc)] == ["# Roast flow"]
    assert kinds(doc, "paragraph") == ["Green coffee store\nDrawn by the roastery\nRoaster number two"]
    with pytest.raises(ExtractionError) as error:
        extract_document(_write(tmp_path, "icon.svg", '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h9"/></svg>'))
    assert error.value.code == "no_text"


STOCK = [["Bean", "Origin", "Kg"], ["Arabica", "Brazil", 120], ["Robusta", "Vietnam", 80]]
STOCK_TABLE = "| Bean | Origin | Kg |\n|---|---|---|\n| Arabica | Brazil | 120 |\n| Robusta | Vietnam | 80 |"


def test_binary_excel_workbook(tmp_path: Path) -> None:
    from pyxlsbwriter import XlsbWriter

    path = tmp_path / "stock.xlsb"
    with XlsbWriter(str(path)) as writer:
        writer.add_sheet("Inventory")
        writer.write_sheet(STOCK)
        writer.add_sheet("Notes")
        writer.write_sheet([["Roasted beans keep four weeks in the valve bags."]])
    doc = extract_document(path)
    assert doc.format == "xlsb" and doc.pages == 2
    assert [t for _, _, t in headings(doc)] == ["# Inventory", "# Notes"]
    assert kinds(doc, "table")[0] == STOCK_TABLE


def _workbook(path: Path, rewrite=None) -> Path:
    """An .xlsx written by openpyxl, each XML part passed through `rewrite(name, text)`."""
    import openpyxl
    import zipfile

    book = openpyxl.Workbook()
    book.active.title = "Inventory"
    for row in STOCK:
        book.active.append(row)
    plain = path.with_name("plain.xlsx")
    book.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, rewrite(name, data.decode()) if rewrite and name.endswith((".xml", ".rels")) else data)
    return path


def test_strict_open_xml_workbook_that_openpyxl_reads_as_empty_is_read_by_calamine(tmp_path: Path) -> None:
    """Excel's "Strict Open XML" flavour: other namespaces, which openpyxl does not know (it reads
    no cell, without an error)."""
    strict = {"http://schemas.openxmlformats.org/spreadsheetml/2006/main": "http://purl.oclc.org/ooxml/spreadsheetml/main",
              "http://schemas.openxmlformats.org/officeDocument/2006/relationships":
                  "http://purl.oclc.org/ooxml/officeDocument/relationships"}

    def to_strict(_name: str, text: str) -> str:
        for transitional, iso in strict.items():
            text = text.replace(transitional, iso)
        return text

    doc = extract_document(_workbook(tmp_path / "strict.xlsx", to_strict), parser="native")
    assert doc.parser == "calamine" and kinds(doc, "table") == [STOCK_TABLE]


def test_workbook_with_a_missing_external_link_part_is_read_by_calamine(tmp_path: Path) -> None:
    """A workbook that names an external link's part it does not hold (openpyxl: KeyError)."""
    link = ('<Relationship Id="rIdLink" Target="externalLinks/externalLink1.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLink"/>')

    def dangling(name: str, text: str) -> str:
        if name == "xl/_rels/workbook.xml.rels":
            return text.replace("</Relationships>", link + "</Relationships>")
        if name == "xl/workbook.xml":
            return text.replace("</workbook>", '<externalReferences><externalReference r:id="rIdLink"/>'
                                                "</externalReferences></workbook>")
        return text

    path = _workbook(tmp_path / "linked.xlsx", dangling)
    doc = extract_document(path, parser="native")
    assert doc.parser == "calamine" and kinds(doc, "table") == [STOCK_TABLE]


def test_an_empty_workbook_stays_no_text_with_its_sheet_count_after_calamine_finds_nothing(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.create_sheet("Second")
    book.save(tmp_path / "empty.xlsx")
    with pytest.raises(ExtractionError) as error:
        extract_document(tmp_path / "empty.xlsx", parser="native")
    assert error.value.code == "no_text" and "2 page(s)" in error.value.message
