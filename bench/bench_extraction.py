"""Extraction benchmark: pages/s and chunks/s per format, and embedding throughput (chunks/s).

    .venv/bin/python bench/bench_extraction.py [--repeat 3] [--no-ocr] [--no-embed] [--only pdf,pdf-struct]

Builds a synthetic document per format in a temporary folder (a few pages to a few thousand
rows each, see ``build``), extracts and chunks each ``--repeat`` times, and prints the median.
"Pages" are real pages for PDF, slides for PPTX, sheets for XLSX, chapters for EPUB, frames for
images; for formats without pages the column shows documents/s instead (marked with *).
``chunks/s`` is extraction plus chunking; ``chunking/s`` is chunking alone (token budget counted
with the all-MiniLM-L6-v2 tokenizer). PDF rows: ``pdf`` (plain text lines) and ``pdf-struct``
(headings, a ruled table and two columns per page) go through the pipeline's reader (pdfium's
characters and ruling lines, pdfplumber's table finder); ``pdfium-only`` reads ``pdf-struct`` with
pypdfium2's plain text layer alone, the reader it falls back to, for comparison.
OCR rows (issue 15): ``scan`` is a full A4 page of text scanned at 300 dpi, read with the current
OCR settings; ``scan-before`` the same page with the settings before (2400 px, angle classifier
on, recognition batches of 6); both print CPU seconds and the similarity of the OCR text to the known text. ``pdf-scan`` is a
two-page PDF, one scanned page (OCRed) and one typed page (not rendered). Rows for the formats of
issue 15: ``text-utf16``, ``yaml``, ``xml``, ``org``, ``python``, ``code`` (Go), ``zip`` and
``tar.gz`` (five of the files above inside), ``doc`` (when LibreOffice is installed),
``text-utf16-cjk`` (Chinese / Japanese UTF-16 without a BOM), ``qt-ts`` (a Qt Linguist file of 3,000
messages), ``ods`` (20 sheets) and ``otp`` (100 slides). After that table, the archives as folders of
documents: seconds to list the zip's / tar.gz's members, to read every member as a document of
its own, and to read the archive as one document.

The last table (``--no-worker`` skips it) is the per-file cost of reading in a bounded worker
process (extract/worker.py: fork, address-space cap, result pickled back) against reading in
this process, median of ``--worker-repeat`` runs per format: the overhead in milliseconds and the
ratio worker / in-process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from format_files import HTML_PAGE, RST_TEXT, pdf_bytes, write_eml, write_epub, write_odt, write_text_image  # noqa: E402

from mbdg_assets.enrich.chunking import chunk_document, token_counter  # noqa: E402
from mbdg_assets.extract.extraction import ExtractionError, extract_document  # noqa: E402
from mbdg_assets.extract.folder_scan import FolderScan  # noqa: E402
from mbdg_assets.extract.members import expand_archives, extract_source  # noqa: E402
from mbdg_assets.extract.formats import pdf as pdf_format  # noqa: E402
from mbdg_assets.extract.worker import run_bounded  # noqa: E402

PARAGRAPH = ("The roastery receives green coffee every Tuesday and Friday. Each sack is weighed, sampled and "
             "logged before it goes to the warehouse, where humidity stays below sixty percent. ")


def _pdf(folder: Path, pages: int = 20) -> Path:
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    for _ in range(pages):
        merged.import_pages(pdfium.PdfDocument(pdf_bytes([PARAGRAPH[i:i + 90] for i in range(0, len(PARAGRAPH), 90)] * 8)))
    path = folder / "bench.pdf"
    merged.save(str(path))
    return path


def _pdf_structured(folder: Path, pages: int = 20) -> Path:
    """Per page: a 15pt heading, body lines, a ruled 6-row table, a bold sub-heading, two columns."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    path = folder / "bench-struct.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    lines = [PARAGRAPH[i:i + 90] for i in range(0, len(PARAGRAPH), 90)]
    for number in range(pages):
        y = A4[1] - 72
        pdf.setFont("Helvetica-Bold", 15)
        pdf.drawString(72, y, f"Section {number}")
        pdf.setFont("Helvetica", 10)
        for row, line in enumerate(lines * 3):
            pdf.drawString(72, y - 24 - 13 * row, line)
        y -= 24 + 13 * len(lines) * 3 + 10
        table = Table([["Id", "Bean", "Kg"]] + [[str(r), "Arabica", str(r * 7)] for r in range(5)])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
        _, height = table.wrapOn(pdf, *A4)
        table.drawOn(pdf, 72, y - height)
        y -= height + 24
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawString(72, y, "Storage notes")
        pdf.setFont("Helvetica", 10)
        for row in range(20):
            pdf.drawString(72, y - 16 - 13 * row, lines[row % len(lines)][:40])
            pdf.drawString(320, y - 16 - 13 * row, lines[(row + 1) % len(lines)][:40])
        pdf.showPage()
    pdf.save()
    return path


def _pdfium_only(path: Path):
    """The fallback reader alone: pypdfium2's text layer as paragraphs (no headings, no tables)."""
    from mbdg_assets.extract.extraction import _assemble
    from mbdg_assets.extract.formats.base import Drafts, Parsed

    data = path.read_bytes()
    pdf = pdf_format.open_pdf(path, data)
    drafts = Drafts()
    for index in range(len(pdf)):
        for paragraph in pdf_format.pdfium_paragraphs(pdf, index):
            drafts.add("paragraph", paragraph, page=index + 1)
    pages = len(pdf)
    pdf.close()
    return _assemble(path, "pdf", data, Parsed(drafts.items, pages))


def _scan_lines() -> list[str]:
    words, lines, line = (PARAGRAPH * 12).split(), [], ""
    for word in words:
        if len(line) + len(word) > 70:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines[:40]


def _scan(folder: Path) -> Path:
    """A full A4 page of 11pt text scanned at 300 dpi (2480 x 3508 JPEG), as offices' scanners make them."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (2480, 3508), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 46)
    except OSError:
        font = ImageFont.load_default(size=46)
    for number, line in enumerate(_scan_lines()):
        draw.text((200, 250 + 75 * number), line, fill="black", font=font)
    path = folder / "scan.jpg"
    image.save(str(path), quality=85)
    return path


def _ocr_before(path: Path):
    """The scan read with the OCR settings before issue 15 (2400 px working size, angle classifier
    on, RapidOCR's default recognition batch of 6 lines)."""
    from mbdg_assets.extract.formats import images

    saved = images.OCR_SIDE, images.USE_ANGLE_CLASSIFIER, images.REC_BATCH
    images.OCR_SIDE, images.USE_ANGLE_CLASSIFIER, images.REC_BATCH = 2400, True, 6
    try:
        return extract_document(path)
    finally:
        images.OCR_SIDE, images.USE_ANGLE_CLASSIFIER, images.REC_BATCH = saved


def ocr_accuracy(text: str) -> float:
    """Similarity (0-1, difflib) of OCR text to the scan's known lines, spaces ignored."""
    import difflib

    return difflib.SequenceMatcher(None, "".join(text.split()), "".join("".join(_scan_lines()).split())).ratio()


def _scanned_pdf(folder: Path, scan: Path) -> Path:
    """Two pages: the scan (no text layer, OCRed) and a typed page (not rendered)."""
    import pypdfium2 as pdfium
    from PIL import Image

    image_pdf = folder / "scan-only.pdf"
    Image.open(scan).save(str(image_pdf), "PDF", resolution=300)
    merged = pdfium.PdfDocument.new()
    merged.import_pages(pdfium.PdfDocument(str(image_pdf)))
    merged.import_pages(pdfium.PdfDocument(pdf_bytes([PARAGRAPH[:90]] * 20)))
    path = folder / "bench-scan.pdf"
    merged.save(str(path))
    return path


def _archives(folder: Path, files: dict[str, Path]) -> dict[str, Path]:
    """A .zip and a .tar.gz holding the Markdown, text, CSV, DOCX and PDF files above."""
    import tarfile
    import zipfile

    members = [files[name] for name in ("markdown", "text", "csv", "docx", "pdf")]
    with zipfile.ZipFile(folder / "bench.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            archive.write(member, f"inner/{member.name}")
    with tarfile.open(folder / "bench.tar.gz", "w:gz") as archive:
        for member in members:
            archive.add(member, f"inner/{member.name}")
    return {"zip": folder / "bench.zip", "tar.gz": folder / "bench.tar.gz"}


CJK_LINE = "北京咖啡烘焙厂每周二收到生豆，麻袋称重并登记，然后送入烘焙机。东京的焙煎所では、毎週火曜日に生豆が届きます。\n"
_ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
           'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
           'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"')


def _odf(folder: Path, name: str, kind: str, body: str) -> Path:
    """An OpenDocument spreadsheet / presentation with the content.xml body given."""
    import zipfile

    path = folder / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", f"application/vnd.oasis.opendocument.{kind}")
        archive.writestr("content.xml", f'<?xml version="1.0"?><office:document-content {_ODF_NS}><office:body>'
                                        f"{body}</office:body></office:document-content>")
    return path


def _new_formats(folder: Path) -> dict[str, Path]:
    """Chinese / Japanese UTF-16 without a BOM, a Qt Linguist .ts, an .ods with 20 sheets of 250
    rows and an .otp with 100 slides."""
    files = {"text-utf16-cjk": folder / "bench-cjk.txt", "qt-ts": folder / "bench_de.ts"}
    files["text-utf16-cjk"].write_bytes((CJK_LINE * 2000).encode("utf-16-le"))
    messages = "".join(f"<message><source>Weigh batch {i}</source><translation>Charge {i} wiegen</translation></message>"
                       for i in range(100))
    files["qt-ts"].write_text('<?xml version="1.0"?><!DOCTYPE TS><TS version="2.1" language="de_DE">'
                              + "".join(f"<context><name>Dialog{c}</name>{messages}</context>" for c in range(30)) + "</TS>")
    cell = "<table:table-cell><text:p>{}</text:p></table:table-cell>"
    rows = "".join("<table:table-row>" + cell.format(f"Batch {r}") + cell.format(PARAGRAPH[:60]) + cell.format(r % 90)
                   + "</table:table-row>" for r in range(250))
    files["ods"] = _odf(folder, "bench.ods", "spreadsheet", "<office:spreadsheet>" + "".join(
        f'<table:table table:name="Sheet{n}">{rows}</table:table>' for n in range(20)) + "</office:spreadsheet>")
    files["otp"] = _odf(folder, "bench.otp", "presentation", "<office:presentation>" + "".join(
        f'<draw:page draw:name="Slide {n}"><draw:frame><draw:text-box><text:p>Part {n}</text:p><text:p>{PARAGRAPH}</text:p>'
        "</draw:text-box></draw:frame></draw:page>" for n in range(100)) + "</office:presentation>")
    return files


def _read_or_error(path: Path) -> str:
    """A member's format, or its error code (a member that fails still costs its reading)."""
    try:
        return extract_source(path).format
    except ExtractionError as error:
        return error.code


def archive_members(files: dict[str, Path], repeat: int) -> None:
    """Archives as folders of documents: listing the members, then reading each as a document
    (extract_source), against reading the archive as one document (extract_document)."""
    print(f"\n{'archive':<8} {'members':>8} {'list s':>8} {'read all s':>11} {'docs/s':>8} {'as one doc s':>13}")
    for name in ("zip", "tar.gz"):
        path = files[name]
        scan = FolderScan({path.name: ""})
        listing = _median_seconds(lambda: expand_archives(path.parent, scan), repeat)
        keys = list(expand_archives(path.parent, scan).documents)
        read_all = _median_seconds(lambda: [_read_or_error(path.parent / key) for key in keys], repeat)
        whole = _median_seconds(lambda: extract_document(path), repeat)
        print(f"{name:<8} {len(keys):>8} {listing:>8.3f} {read_all:>11.3f} {len(keys) / read_all:>8.1f} {whole:>13.3f}  "
              + ", ".join(f"{key.rsplit('/', 1)[-1]}: {_read_or_error(path.parent / key)}" for key in keys))


def _legacy_doc(folder: Path, docx: Path) -> Path:
    """The DOCX above saved as a legacy .doc by LibreOffice (read back through LibreOffice)."""
    from mbdg_assets.extract.formats import legacy_office

    path = folder / "bench.doc"
    path.write_bytes(legacy_office.convert(docx, docx.read_bytes(), "doc"))
    return path


def _docx(folder: Path) -> Path:
    import docx

    document = docx.Document()
    for section in range(20):
        document.add_heading(f"Section {section}", 1)
        for _ in range(10):
            document.add_paragraph(PARAGRAPH)
    path = folder / "bench.docx"
    document.save(str(path))
    return path


def _pptx(folder: Path, slides: int = 30) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for number in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide {number}"
        slide.placeholders[1].text_frame.text = PARAGRAPH
    path = folder / "bench.pptx"
    deck.save(str(path))
    return path


def _xlsx(folder: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    for sheet_number in range(3):
        sheet = book.active if sheet_number == 0 else book.create_sheet(f"Sheet{sheet_number}")
        sheet.append(("Id", "Bean", "Origin", "Kg", "Note"))
        for row in range(1000):
            sheet.append((row, "Arabica", "Brazil", row % 90, "sampled and logged"))
    path = folder / "bench.xlsx"
    book.save(str(path))
    return path


def _xlsb(folder: Path) -> Path:
    """The same three sheets as ``_xlsx``, as a binary workbook (read by calamine)."""
    from pyxlsbwriter import XlsbWriter

    path = folder / "bench.xlsb"
    with XlsbWriter(str(path)) as writer:
        for sheet_number in range(3):
            writer.add_sheet(f"Sheet{sheet_number}")
            writer.write_sheet([["Id", "Bean", "Origin", "Kg", "Note"]]
                               + [[row, "Arabica", "Brazil", row % 90, "sampled and logged"] for row in range(1000)])
    return path


def build(folder: Path, ocr: bool) -> dict[str, Path]:
    """One larger-than-test document per format."""
    text_files = {
        "markdown": ("bench.md", "".join(f"# Part {i}\n\n{PARAGRAPH * 3}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" for i in range(50))),
        "text": ("bench.txt", "".join(f"PART {i}\n\n{PARAGRAPH * 3}\n\n" for i in range(50))),
        "csv": ("bench.csv", "Id,Bean,Origin,Kg\n" + "".join(f"{i},Arabica,Brazil,{i % 90}\n" for i in range(5000))),
        "json": ("bench.json", "[" + ",".join(f'{{"id": {i}, "bean": "Arabica", "kg": {i % 90}}}' for i in range(3000)) + "]"),
        "jsonl": ("bench.jsonl", "".join(f'{{"id": {i}, "note": "{PARAGRAPH[:60]}"}}\n' for i in range(3000))),
        "html": ("bench.html", HTML_PAGE.replace("<main>", "<main>" + f"<h2>More</h2><p>{PARAGRAPH}</p>" * 200)),
        "rst": ("bench.rst", RST_TEXT + "".join(f"\nPart {i}\n--------\n\n{PARAGRAPH}\n" for i in range(100))),
        "rtf": ("bench.rtf", "{\\rtf1\\ansi " + "".join(f"{PARAGRAPH}\\par\n" for _ in range(300)) + "}"),
        "yaml": ("bench.yaml", "".join(f"batch{i}:\n  bean: Arabica\n  kg: {i % 90}\n  note: {PARAGRAPH[:80]}\n" for i in range(2000))),
        "xml": ("bench.xml", "<batches>" + "".join(f'<batch id="b{i}"><bean>Arabica</bean><kg>{i % 90}</kg><note>{PARAGRAPH}</note></batch>'
                                                   for i in range(2000)) + "</batches>"),
        "org": ("bench.org", "".join(f"* Part {i}\n{PARAGRAPH * 3}\n- one\n- two\n| a | b |\n| 1 | 2 |\n" for i in range(50))),
        "python": ("bench.py", "".join(f'# Batch {i} helper.\ndef batch_{i}(kg):\n    """{PARAGRAPH}"""\n    return kg * {i}\n\n\n'
                                      for i in range(300))),
        "code": ("bench.go", "package main\n\n" + "".join(f"// Batch{i} weighs {PARAGRAPH[:60]}\nfunc Batch{i}(kg int) int {{\n\treturn kg * {i}\n}}\n\n"
                                                        for i in range(300))),
        "toml": ("bench.toml", "".join(f'[batch{i}]\nbean = "Arabica"\nkg = {i % 90}\nnote = "{PARAGRAPH[:80]}"\n\n' for i in range(2000))),
        "ini": ("bench.ini", "".join(f"# {PARAGRAPH[:80]}\n[batch{i}]\nbean = Arabica\nkg = {i % 90}\n\n" for i in range(2000))),
        "subtitles": ("bench.vtt", "WEBVTT\n\n" + "".join(f"00:{i // 60 % 60:02d}:{i % 60:02d}.000 --> 00:{i // 60 % 60:02d}:{i % 60:02d}.900\n"
                                                          f"<v Ann>{PARAGRAPH[:70]}\n\n" for i in range(3000))),
        "notebook": ("bench.ipynb", json.dumps({"cells": [c for i in range(300) for c in (
            {"cell_type": "markdown", "source": f"## Step {i}\n{PARAGRAPH}"},
            {"cell_type": "code", "source": f"batch_{i} = weigh({i})\nplot(batch_{i})", "outputs": []})],
            "metadata": {"kernelspec": {"language": "python"}}})),
        "svg": ("bench.svg", '<svg xmlns="http://www.w3.org/2000/svg"><title>Flow</title>' + "".join(
            f'<g><rect x="{i}" y="1" width="9" height="9"/><text x="{i}" y="5">{PARAGRAPH[:50]}</text></g>' for i in range(3000)) + "</svg>"),
        "mhtml": ("bench.mht", 'MIME-Version: 1.0\nContent-Type: multipart/related; boundary="b"\n\n--b\nContent-Type: text/html; charset=utf-8\n\n'
                  + HTML_PAGE.replace("<main>", "<main>" + f"<h2>More</h2><p>{PARAGRAPH}</p>" * 200) + "\n--b--\n"),
    }
    files = {}
    for name, (filename, content) in text_files.items():
        files[name] = folder / filename
        files[name].write_text(content, encoding="utf-8")
    files["text-utf16"] = folder / "bench-utf16.txt"
    files["text-utf16"].write_text(text_files["text"][1], encoding="utf-16")  # as Windows Notepad saves it
    files |= {"pdf": _pdf(folder), "pdf-struct": _pdf_structured(folder), "pdfium-only": folder / "bench-struct.pdf",
              "docx": _docx(folder), "pptx": _pptx(folder), "xlsx": _xlsx(folder), "xlsb": _xlsb(folder),
              "odt": write_odt(folder / "bench.odt"), "epub": write_epub(folder / "bench.epub"),
              "eml": write_eml(folder / "bench.eml", folder)}
    files |= _archives(folder, files) | _new_formats(folder)
    if shutil.which("soffice"):
        files["doc"] = _legacy_doc(folder, files["docx"])
    if ocr:
        files["image"] = write_text_image(folder / "bench.png", [PARAGRAPH[i:i + 38] for i in range(0, 190, 38)])
        files["scan-before"] = files["scan"] = _scan(folder)
        files["pdf-scan"] = _scanned_pdf(folder, files["scan"])
    return files


def measure(path: Path, repeat: int, extract=extract_document) -> tuple[float, float, int, int, int, list[str], float]:
    """(median seconds for extract + chunk, median seconds for chunking alone, pages, chunks,
    characters, chunk texts, median CPU seconds of all threads) for one file."""
    count = token_counter()
    count("warm up")  # load the tokenizer outside the timing
    times, chunk_times, cpu = [], [], []
    for _ in range(repeat):
        cpu_started = time.process_time()
        started = time.perf_counter()
        doc = extract(path)
        middle = time.perf_counter()
        chunks = chunk_document(doc, count_tokens=count)
        ended = time.perf_counter()
        times.append(ended - started)
        cpu.append(time.process_time() - cpu_started)
        chunk_times.append(ended - middle)
    return (statistics.median(times), statistics.median(chunk_times), doc.pages or 0, len(chunks), len(doc.text),
            [c.text for c in chunks], statistics.median(cpu))


def _median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker_overhead(files: dict[str, Path], repeat: int) -> None:
    """Print in-process vs bounded-worker extraction time per format (same files, same process)."""
    print(f"\n{'worker':<11} {'in-process ms':>13} {'worker ms':>10} {'overhead ms':>12} {'ratio':>6}")
    for name in ("text", "markdown", "csv", "docx", "xlsx", "pdf"):
        if name not in files:
            continue
        path = files[name]
        extract_document(path)  # lazy imports outside the timing, as in a long run
        inside = _median_seconds(lambda: extract_document(path), repeat)
        worker = _median_seconds(lambda: run_bounded(extract_document, (path,), path.name), repeat)
        print(f"{name:<11} {inside * 1000:>13.1f} {worker * 1000:>10.1f} {(worker - inside) * 1000:>12.1f} "
              f"{worker / inside:>6.1f}")


def embedding_throughput(texts: list[str]) -> float:
    from mbdg_assets.enrich.embeddings import Embedder

    embedder = Embedder()
    embedder.embed(texts[:8])  # load the model outside the timing
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ocr", action="store_true")
    parser.add_argument("--no-embed", action="store_true")
    parser.add_argument("--no-worker", action="store_true", help="skip the worker-process overhead table")
    parser.add_argument("--worker-repeat", type=int, default=15)
    parser.add_argument("--only", default="", help="comma-separated rows to run, e.g. pdf,pdf-struct,pdfium-only")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp), ocr=not args.no_ocr)
        print(f"{'format':<11} {'pages':>6} {'chunks':>7} {'chars':>9} {'seconds':>8} {'pages/s':>9} {'chunks/s':>9} "
              f"{'chunking/s':>10}")
        chunk_texts: list[str] = []
        for name, path in files.items():
            if only and name not in only:
                continue
            extract = {"pdfium-only": _pdfium_only, "scan-before": _ocr_before}.get(name, extract_document)
            ocr = name in ("image", "scan", "scan-before", "pdf-scan")
            seconds, chunking, pages, chunks, chars, texts, cpu = measure(path, 1 if ocr else args.repeat, extract)
            rate = f"{pages / seconds:9.3f}" if ocr else f"{pages / seconds:9.1f}" if pages else f"{1 / seconds:8.1f}*"
            print(f"{name:<11} {pages:>6} {chunks:>7} {chars:>9} {seconds:>8.3f} {rate} {chunks / seconds:>9.1f} "
                  f"{chunks / max(chunking, 1e-9):>10.1f}")
            if ocr:
                print(f"{'':<11} CPU seconds (all threads; steadier than wall time on a shared machine): {cpu:.1f}")
            if name.startswith("scan"):
                print(f"{'':<11} OCR accuracy against the known text: {ocr_accuracy(' '.join(texts)):.3f}")
            chunk_texts += texts if name not in ("pdfium-only", "scan-before") else []
        print("* no pages in this format: documents/s")
        if not only or only & {"zip", "tar.gz"}:
            archive_members(files, args.repeat)
        if not args.no_worker:
            worker_overhead({n: p for n, p in files.items() if not only or n in only}, args.worker_repeat)
        if not args.no_embed:
            texts = (chunk_texts * (1 + 512 // max(len(chunk_texts), 1)))[:512]
            print(f"embedding (all-MiniLM-L6-v2, CPU, batch 32): {embedding_throughput(texts):.1f} chunks/s "
                  f"over {len(texts)} chunks of {sum(map(len, texts)) // len(texts)} characters on average")


if __name__ == "__main__":
    main()
