"""Builders for one small file per supported format, with known content, written under a folder.

Shared by the per-format tests, the incremental-run test and the extraction benchmark, so every
format is exercised from a file the code itself creates (nothing binary is committed).
"""

from __future__ import annotations

import io
import json
import zipfile
from email.message import EmailMessage
from pathlib import Path

HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Roastery Guide - Example Coffee</title>
<style>body { color: red }</style><script>var tracking = "do not keep";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/shop">Shop menu link</a></nav>
<main>
<h1>Roastery Guide</h1>
<p>Green beans are stored at <b>18 degrees</b> in sealed bags.</p>
<h2>Roast levels</h2>
<table><tr><th>Level</th><th>Minutes</th></tr><tr><td>Light</td><td>9</td></tr><tr><td>Dark</td><td>14</td></tr></table>
<ul><li>Weigh the batch</li><li>Preheat the drum<ul><li>to 200 C</li></ul></li></ul>
<pre>roast --level light --minutes 9</pre>
</main>
<footer>Copyright footer text</footer>
</body></html>
"""

RST_TEXT = """Field Manual
============

The manual covers pumps.

Pumps
-----

Check the seals weekly.

* inspect the housing
* replace worn gaskets

.. code-block:: text

   pump status --all

=====  =====
Pump   Flow
=====  =====
P1     40
P2     55
=====  =====
"""

RTF_TEXT = r"""{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}
\f0 Quarterly memo\par
The warehouse moves to Porto in March.\par
Budget is approved.\par
}"""


def write_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap 2027"
    body = slide.placeholders[1].text_frame
    body.text = "Open the Lisbon office"
    body.add_paragraph().text = "Hire two engineers"
    slide.notes_slide.notes_text_frame.text = "Mention the lease."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Budget"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(1.5)).table
    for r, row in enumerate([("Item", "Cost"), ("Rent", "1200"), ("Laptops", "3400")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(str(path))
    return path


def write_xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Inventory"
    for row in [("Bean", "Origin", "Kg"), ("Arabica", "Brazil", 120), ("Robusta", "Vietnam", 80)]:
        sheet.append(row)
    prices = book.create_sheet("Prices")
    prices.append(("Bean", "EUR per kg"))
    prices.append(("Arabica", 7.5))
    book.save(str(path))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Onboarding", 1)
    document.add_paragraph("New staff shadow a roaster for two weeks.")
    document.save(str(path))
    return path


def write_odt(path: Path) -> Path:
    content = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0">
<office:body><office:text>
<text:h text:outline-level="1">Safety Plan</text:h>
<text:p>Exits are marked<text:s/> in green.</text:p>
<text:h text:outline-level="2">Drills</text:h>
<text:list><text:list-item><text:p>Fire drill in May</text:p></text:list-item>
<text:list-item><text:p>Flood drill in June</text:p></text:list-item></text:list>
<table:table><table:table-row><table:table-cell><text:p>Room</text:p></table:table-cell><table:table-cell><text:p>Warden</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell><text:p>Lab</text:p></table:table-cell><table:table-cell><text:p>Ana</text:p></table:table-cell></table:table-row></table:table>
</office:text></office:body></office:document-content>"""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
        archive.writestr("content.xml", content)
    return path


def write_epub(path: Path) -> Path:
    container = """<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""
    opf = """<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">
<manifest><item id="c1" href="ch1.xhtml" media-type="application/xhtml+xml"/><item id="c2" href="ch2.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>"""
    chapter = """<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{0}</title></head>
<body><h1>{0}</h1><p>{1}</p></body></html>"""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/ch1.xhtml", chapter.format("The Harbour", "Ships dock at dawn."))
        archive.writestr("OEBPS/ch2.xhtml", chapter.format("The Market", "Fish is sold by noon."))
    return path


def write_eml(path: Path, tmp: Path) -> Path:
    message = EmailMessage()
    message["From"] = "Ana Silva <ana@example.com>"
    message["To"] = "team@example.com"
    message["Subject"] = "Supplier change"
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    message.set_content("We switch to the Minas Gerais cooperative in January.\n\nPrices stay the same.")
    message.add_attachment(b"Bean,Kg\nArabica,120\n", maintype="text", subtype="csv", filename="stock.csv")
    docx_bytes = write_docx(tmp / "_attached.docx").read_bytes()
    message.add_attachment(docx_bytes, maintype="application", subtype="octet-stream", filename="onboarding.docx")
    inner = EmailMessage()
    inner["From"] = "bob@example.com"
    inner["Subject"] = "Original quote"
    inner.set_content("The cooperative quoted 7 EUR per kg.")
    message.add_attachment(inner)
    path.write_bytes(bytes(message))
    return path


def write_text_image(path: Path, lines: list[str], pages: list[list[str]] | None = None) -> Path:
    """Black text on white, large and clean enough for OCR; several pages make a multi-frame TIFF."""
    from PIL import Image, ImageDraw, ImageFont

    def render(page_lines: list[str]):
        image = Image.new("RGB", (760, 90 + 70 * len(page_lines)), "white")
        draw = ImageDraw.Draw(image)
        try:
            font = ImageFont.truetype("DejaVuSans.ttf", 34)
        except OSError:
            font = ImageFont.load_default(size=34)
        for number, line in enumerate(page_lines):
            draw.text((30, 40 + 70 * number), line, fill="black", font=font)
        return image

    frames = [render(p) for p in (pages or [lines])]
    frames[0].save(str(path), save_all=len(frames) > 1, append_images=frames[1:])
    return path


def write_corpus(folder: Path) -> dict[str, Path]:
    """One file per supported text-bearing format (images excluded: OCR is slow), by format name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "markdown": folder / "guide.md", "text": folder / "notes.txt", "csv": folder / "stock.csv",
        "tsv": folder / "stock.tsv", "json": folder / "config.json", "jsonl": folder / "events.jsonl",
        "html": folder / "page.html", "rst": folder / "manual.rst", "rtf": folder / "memo.rtf",
    }
    files["markdown"].write_text("# Guide\n\n## Setup\n\nInstall the grinder.\n", encoding="utf-8")
    files["text"].write_text("NOTES\n\nThe roaster runs on gas.\n", encoding="utf-8")
    files["csv"].write_text("Bean,Origin,Kg\nArabica,Brazil,120\nRobusta,Vietnam,80\n", encoding="utf-8")
    files["tsv"].write_text("Bean\tKg\nArabica\t120\n", encoding="utf-8")
    files["json"].write_text(json.dumps({"name": "roastery", "settings": {"temperature": 200, "unit": "C"},
                                         "staff": [{"name": "Ana", "role": "roaster"}, {"name": "Bob", "role": "buyer"}]}),
                             encoding="utf-8")
    files["jsonl"].write_text('{"event": "delivery", "kg": 120}\n{"event": "roast", "kg": 40}\n', encoding="utf-8")
    files["html"].write_text(HTML_PAGE, encoding="utf-8")
    files["rst"].write_text(RST_TEXT, encoding="utf-8")
    files["rtf"].write_text(RTF_TEXT, encoding="latin-1")
    files["docx"] = write_docx(folder / "onboarding.docx")
    files["pptx"] = write_pptx(folder / "roadmap.pptx")
    files["xlsx"] = write_xlsx(folder / "inventory.xlsx")
    files["odt"] = write_odt(folder / "safety.odt")
    files["epub"] = write_epub(folder / "harbour.epub")
    scratch = folder / ".scratch"
    scratch.mkdir(exist_ok=True)
    files["eml"] = write_eml(folder / "supplier.eml", scratch)
    return files


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page text PDF (pypdfium2's raw API), for corpora that need a paged format."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(612, 792)
    y = 720
    for line in lines:
        obj = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(12))
        encoded = (line + "\x00").encode("utf-16-le")
        buffer = ctypes.create_string_buffer(encoded, len(encoded))
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, y)
        pdfium_c.FPDFPage_InsertObject(page.raw, obj)
        y -= 16
    page.gen_content()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def write_structured_pdf(path: Path, columns: int = 8) -> Path:
    """A two-page PDF with real typography (reportlab): a 20pt bold title, 15pt bold section
    headings, a bold 11pt sub-heading, 11pt body text, a ruled table, and on page 2 a
    full-width heading over two text columns drawn row by row (so the raw text layer
    interleaves them)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=True)  # invariant: same bytes every time
    width, height = A4
    y = height - 72

    def line(text: str, font: str, size: float, step: float) -> None:
        nonlocal y
        pdf.setFont(font, size)
        pdf.drawString(72, y, text)
        y -= step

    line("Roastery Handbook", "Helvetica-Bold", 20, 36)
    line("Green beans arrive every Tuesday and are stored at 18 degrees.", "Helvetica", 11, 14)
    line("Each sack is weighed and logged before storage.", "Helvetica", 11, 28)
    line("Roast levels", "Helvetica-Bold", 15, 24)
    line("The table lists the roast times per level.", "Helvetica", 11, 20)
    table = Table([["Level", "Minutes", "Drop temperature"], ["Light", "9", "205 C"], ["Dark", "14", "225 C"]])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONT", (0, 0), (-1, -1), "Helvetica", 11)]))
    _, table_height = table.wrapOn(pdf, width, height)
    table.drawOn(pdf, 72, y - table_height)
    y -= table_height + 24
    line("Cooling", "Helvetica-Bold", 11, 16)
    line("Beans cool in the tray for four minutes.", "Helvetica", 11, 14)
    pdf.showPage()
    y = height - 72
    line("Storage and shipping", "Helvetica-Bold", 15, 30)
    pdf.setFont("Helvetica", 11)
    for row in range(columns):
        pdf.drawString(72, y - 14 * row, f"Left column line {row} about storage rules.")
        pdf.drawString(320, y - 14 * row, f"Right column line {row} on shipping.")
    pdf.showPage()
    pdf.save()
    return path


# --------------------------------------------------------------------------- Outlook .msg

_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _cfb(entries: list[tuple[str, int, int, bytes]]) -> bytes:
    """A minimal Compound File (OLE2, version 3) holding the given entries.

    ``entries``: (name, type 1=storage / 2=stream, parent index, data); index 0 is the root (its
    parent is ignored). Every stream must be >= 4096 bytes so it lives in normal sectors (no mini
    stream to write). Siblings are chained through right-sibling links in CFB name order.
    """
    import struct

    sector = 512
    streams = [(i, e[3]) for i, e in enumerate(entries) if e[1] == 2]
    assert all(len(data) >= 4096 for _, data in streams), "pad streams to >= 4096 bytes"
    data_sectors = sum(-(-len(data) // sector) for _, data in streams)
    dir_sectors = -(-len(entries) // 4)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + data_sectors:
        fat_sectors += 1
    fat = [_FATSECT] * fat_sectors
    first_dir = len(fat)
    fat += list(range(first_dir + 1, first_dir + dir_sectors)) + [_END]
    starts, body = {}, bytearray()
    for index, data in streams:
        count = -(-len(data) // sector)
        starts[index] = len(fat)
        fat += list(range(len(fat) + 1, len(fat) + count)) + [_END]
        body += data + b"\x00" * (count * sector - len(data))
    fat += [_FREE] * (fat_sectors * 128 - len(fat))

    children: dict[int, list[int]] = {}
    for index, (_, _, parent, _) in enumerate(entries[1:], start=1):
        children.setdefault(parent, []).append(index)
    child_of, right_of = {}, {}
    for parent, kids in children.items():
        kids.sort(key=lambda k: (len(entries[k][0]), entries[k][0].upper()))
        child_of[parent] = kids[0]
        right_of.update({a: b for a, b in zip(kids, kids[1:])})

    directory = bytearray()
    for index, (name, kind, _, data) in enumerate(entries):
        encoded = (name + "\x00").encode("utf-16-le")
        directory += encoded.ljust(64, b"\x00") + struct.pack(
            "<HBBIII16sIQQIQ", len(encoded), 5 if index == 0 else kind, 1, _FREE, right_of.get(index, _FREE),
            child_of.get(index, _FREE), b"\x00" * 16, 0, 0, 0, starts.get(index, _END), len(data) if kind == 2 else 0)
    directory += b"\x00" * (dir_sectors * sector - len(directory))
    for empty in range(len(entries), dir_sectors * 4):  # unused entries: free, no siblings
        at = empty * 128
        directory[at + 68 : at + 80] = struct.pack("<III", _FREE, _FREE, _FREE)

    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3,
                         0xFFFE, 9, 6, b"\x00" * 6, 0, fat_sectors, first_dir, 0, 4096, _END, 0, _END, 0)
    difat = list(range(fat_sectors)) + [_FREE] * (109 - fat_sectors)
    header += struct.pack("<109I", *difat)
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    return bytes(header + fat_bytes + directory + body)


def write_msg(path: Path, subject: str, sender: str, to: str, body: str, attachments: list[tuple[str, bytes]]) -> Path:
    """An Outlook .msg with the property streams mbdg reads (subject, sender, to, body, attachments)."""

    def text(value: str) -> bytes:
        return value.encode("utf-16-le").ljust(4096, b"\x00")

    entries: list[tuple[str, int, int, bytes]] = [("Root Entry", 5, 0, b"")]
    entries.append(("__properties_version1.0", 2, 0, b"\x00" * 4096))
    for prop, value in (("0037", subject), ("0C1A", sender), ("0E04", to), ("1000", body)):
        entries.append((f"__substg1.0_{prop}001F", 2, 0, text(value)))
    for number, (name, data) in enumerate(attachments):
        entries.append((f"__attach_version1.0_#{number:08X}", 1, 0, b""))
        folder = len(entries) - 1
        entries.append(("__substg1.0_3707001F", 2, folder, text(name)))
        entries.append(("__substg1.0_37010102", 2, folder, data.ljust(4096, b"\n")))
    path.write_bytes(_cfb(entries))
    return path
