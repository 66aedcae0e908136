"""docling vs our own parsers, per format: structure kept, characters, seconds per file.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_parsers.py [--repeat 3]

Files: the small ones tests/format_files.py builds (known content), plus one bigger realistic file
per format built here (a handbook of sections with inline-formatted paragraphs, nested and
numbered lists, tables and code; a deck with bullets, tables and notes; a workbook with a title
row above a table and two tables side by side; a 5,000-row CSV; an EPUB of chapters).

Columns (found / expected, from the content each builder wrote):
  headings  expected (title, level) pairs found as heading blocks; +N = extra heading blocks
  tables    expected tables with every row present as a row of a table block (kept whole:
            nothing lost, nothing turned into paragraphs or merged into another table)
  lists     expected list items found in list blocks
  paras     expected paragraphs found verbatim in the text (whitespace squashed, Markdown ** removed:
            our Markdown parser keeps inline markup, docling drops it); a third of them have a
            comma right after a bold run, which tests inline-run joining
  chars     characters of the extracted text;  s/file  median seconds (imports excluded)
Import costs (a fresh interpreter each) are printed below the table: docling imports torch.
``AUTO_DOCLING`` in mbdg_assets/extract/formats/docling_backend.py is set from this table.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from format_files import write_corpus  # noqa: E402

from mbdg_assets.extract.document import ExtractedDocument, heading_title  # noqa: E402
from mbdg_assets.extract.extraction import ExtractionError, extract_document  # noqa: E402
from mbdg_assets.extract.formats.base import table_cell  # noqa: E402
from mbdg_assets.extract.formats.docling_backend import DOCLING_FORMATS, docling_installed  # noqa: E402


@dataclass
class Expected:
    headings: list[tuple[str, int]] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- small files (tests/format_files.py)

SMALL: dict[str, Expected] = {
    "markdown": Expected([("Guide", 1), ("Setup", 2)], paragraphs=["Install the grinder."]),
    "html": Expected([("Roastery Guide", 1), ("Roast levels", 2)], [[["Level", "Minutes"], ["Light", "9"], ["Dark", "14"]]],
                     ["Weigh the batch", "Preheat the drum", "to 200 C"], ["Green beans are stored at 18 degrees in sealed bags."]),
    "docx": Expected([("Onboarding", 1)], paragraphs=["New staff shadow a roaster for two weeks."]),
    "pptx": Expected([("Roadmap 2027", 1), ("Budget", 1)], [[["Item", "Cost"], ["Rent", "1200"], ["Laptops", "3400"]]],
                     ["Open the Lisbon office", "Hire two engineers"], ["Mention the lease."]),
    "xlsx": Expected([("Inventory", 1), ("Prices", 1)],
                     [[["Bean", "Origin", "Kg"], ["Arabica", "Brazil", "120"], ["Robusta", "Vietnam", "80"]],
                      [["Bean", "EUR per kg"], ["Arabica", "7.5"]]]),
    "csv": Expected(tables=[[["Bean", "Origin", "Kg"], ["Arabica", "Brazil", "120"], ["Robusta", "Vietnam", "80"]]]),
    "epub": Expected([("The Harbour", 1), ("The Market", 1)], paragraphs=["Ships dock at dawn.", "Fish is sold by noon."]),
}

# --------------------------------------------------------------------------- bigger realistic files

WORDS = ("pump valve seal filter drum roaster batch grinder boiler gasket sensor hopper burner duct fan "
         "chamber nozzle scale sieve belt").split()


@dataclass
class Section:
    title: str
    level: int
    paragraphs: list[tuple[str, str, str]]  # (before, bold, after), concatenated: one bold run each
    bullets: list[tuple[str, list[str]]]  # item, nested items
    numbered: list[str]
    table: list[list[str]] | None
    code: str | None


def handbook(sections: int = 24) -> tuple[str, list[Section], Expected]:
    """A manual with three heading levels; every part is known, so the expectations are exact."""
    title, body, exp = "Plant Operations Handbook", [], Expected()
    exp.headings.append((title, 1))
    for n in range(sections):
        w = WORDS[n % len(WORDS)]
        level = 2 if n % 3 == 0 else 3
        paras = [(f"Check the {w} of line {n} every morning before the first batch and ", f"log {10 + n} readings",
                  (", " if k == 2 else " ") + f"in the shift book, then report anything above the limit ({k}).")
                 for k in range(3)]  # the third run has a comma right after the bold words
        bullets = [(f"Inspect {w} {n}.{k}", [f"Replace worn {w} part {n}.{k}"] if k == 1 else []) for k in range(3)]
        numbered = [f"Step {k}: isolate {w} circuit {n}" for k in range(1, 4)]
        table = ([["Unit", "Limit", "Owner", "Checked"]] + [[f"{w}-{n}-{r}", str(40 + r * n), f"Team {r}", "daily"]
                                                            for r in range(5)]) if n % 2 == 0 else None
        code = f"plantctl check --unit {w}-{n} --verbose" if n % 4 == 0 else None
        body.append(Section(f"Section {n}: {w.title()} care", level, paras, bullets, numbered, table, code))
        exp.headings.append((f"Section {n}: {w.title()} care", level))
        exp.paragraphs += [a + b + c for a, b, c in paras]
        exp.items += [i for i, _ in bullets] + [x for _, sub in bullets for x in sub] + numbered
        if table:
            exp.tables.append(table)
    return title, body, exp


def _html_body(title: str, sections: list[Section], with_h1: bool = True) -> str:
    out = [f"<h1>{title}</h1>"] if with_h1 else []
    for s in sections:
        out.append(f"<h{s.level}>{s.title}</h{s.level}>")
        out += [f"<p>{a}<b>{b}</b>{c}</p>" for a, b, c in s.paragraphs]
        items = "".join(f"<li>{i}" + (f"<ul>{''.join(f'<li>{x}</li>' for x in sub)}</ul>" if sub else "") + "</li>"
                        for i, sub in s.bullets)
        out.append(f"<ul>{items}</ul><ol>{''.join(f'<li>{i}</li>' for i in s.numbered)}</ol>")
        if s.table:
            head = "".join(f"<th>{c}</th>" for c in s.table[0])
            rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in s.table[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if s.code:
            out.append(f"<pre><code>{s.code}</code></pre>")
    return "\n".join(out)


def build_html(folder: Path) -> tuple[Path, Expected]:
    title, sections, exp = handbook()
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><script>var x=1;</script></head>"
            f"<body><nav><a href='/'>Home</a> <a href='/docs'>Docs</a></nav><main>{_html_body(title, sections)}</main>"
            "<footer>Copyright 2026 Example Plant</footer></body></html>")
    path = folder / "handbook.html"
    path.write_text(page, encoding="utf-8")
    return path, exp


def build_markdown(folder: Path) -> tuple[Path, Expected]:
    title, sections, exp = handbook()
    out = [f"# {title}"]
    for s in sections:
        out.append("#" * s.level + " " + s.title)
        out += [f"{a}**{b}**{c}" for a, b, c in s.paragraphs]
        out.append("\n".join(f"- {i}" + "".join(f"\n  - {x}" for x in sub) for i, sub in s.bullets))
        out.append("\n".join(f"{k}. {i}" for k, i in enumerate(s.numbered, 1)))
        if s.table:
            rows = ["| " + " | ".join(r) + " |" for r in s.table]
            out.append("\n".join([rows[0], "|" + "---|" * len(s.table[0])] + rows[1:]))
        if s.code:
            out.append(f"```bash\n{s.code}\n```")
    path = folder / "handbook.md"
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")
    return path, exp


def build_docx(folder: Path) -> tuple[Path, Expected]:
    import docx

    title, sections, exp = handbook()
    document = docx.Document()
    document.sections[0].footer.paragraphs[0].text = "Confidential - Example Plant"
    document.add_heading(title, 0)
    for s in sections:
        document.add_heading(s.title, s.level - 1)  # Title is level 1 here, so sections start at Heading 1
        for a, b, c in s.paragraphs:
            para = document.add_paragraph(a)
            para.add_run(b).bold = True
            para.add_run(c)
        for item, sub in s.bullets:
            document.add_paragraph(item, style="List Bullet")
            for x in sub:
                document.add_paragraph(x, style="List Bullet 2")
        for item in s.numbered:
            document.add_paragraph(item, style="List Number")
        if s.table:
            grid = document.add_table(rows=len(s.table), cols=len(s.table[0]))
            grid.style = "Table Grid"
            for r, row in enumerate(s.table):
                for c, value in enumerate(row):
                    grid.cell(r, c).text = value
        if s.code:
            document.add_paragraph(s.code)
            exp.paragraphs.append(s.code)
    exp.headings = [(title, 1)] + [(t, lvl - 1) for t, lvl in exp.headings[1:]]
    path = folder / "handbook.docx"
    document.save(str(path))
    return path, exp


def build_epub(folder: Path) -> tuple[Path, Expected]:
    title, sections, exp = handbook()
    chapters = [sections[i:i + 4] for i in range(0, len(sections), 4)]
    exp.headings = [(s.title, s.level - 1) for s in sections]  # each chapter's first heading is its <h1>
    path = folder / "handbook.epub"
    opf_items = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters)))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        archive.writestr("OEBPS/content.opf", f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><manifest>{opf_items}</manifest><spine>{spine}</spine></package>')
        for i, chapter in enumerate(chapters):
            shifted = [Section(s.title, s.level - 1, s.paragraphs, s.bullets, s.numbered, s.table, s.code) for s in chapter]
            body = _html_body("", shifted, with_h1=False)
            archive.writestr(f"OEBPS/c{i}.xhtml", f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>Part {i}</title></head><body>{body}</body></html>')
    return path, exp


def build_pptx(folder: Path, slides: int = 30) -> tuple[Path, Expected]:
    from pptx import Presentation
    from pptx.util import Inches

    deck, exp = Presentation(), Expected()
    for n in range(slides):
        w = WORDS[n % len(WORDS)]
        if n % 3 == 2:
            slide = deck.slides.add_slide(deck.slide_layouts[5])
            slide.shapes.title.text = f"Costs of {w} {n}"
            rows = [["Item", "Q1", "Q2"]] + [[f"{w} {n}.{r}", str(100 + r), str(200 + n)] for r in range(4)]
            table = slide.shapes.add_table(len(rows), 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
            exp.tables.append(rows)
        else:
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = f"Plan for {w} {n}"
            frame = slide.placeholders[1].text_frame
            items = [(0, f"Audit the {w} line {n}"), (1, f"Owner: team {n % 4}"), (0, f"Order spare {w} parts ({n})")]
            frame.text = items[0][1]
            for level, text in items[1:]:
                para = frame.add_paragraph()
                para.text, para.level = text, level
            exp.items += [t for _, t in items]
        exp.headings.append((slide.shapes.title.text, 1))
        slide.notes_slide.notes_text_frame.text = f"Say that {w} {n} is on budget."
        exp.paragraphs.append(f"Say that {w} {n} is on budget.")
    path = folder / "plan.pptx"
    deck.save(str(path))
    return path, exp


def build_xlsx(folder: Path) -> tuple[Path, Expected]:
    import openpyxl

    book, exp = openpyxl.Workbook(), Expected()
    orders = book.active
    orders.title = "Orders"
    orders.append(["Orders 2026"])
    orders.append([])
    rows = [["Order", "Customer", "Bean", "Kg", "EUR", "Status"]] + [
        [f"O-{i:05d}", f"Cafe {i % 37}", ("Arabica", "Robusta", "Liberica")[i % 3], i % 50 + 1, round((i % 50 + 1) * 7.25, 2),
         ("open", "paid", "shipped")[i % 3]] for i in range(1500)]
    for row in rows:
        orders.append(row)
    exp.tables.append([[table_cell(v) for v in r] for r in rows])
    suppliers = book.create_sheet("Suppliers")
    srows = [["Supplier", "Country", "Since"]] + [[f"Farm {i}", ("Brazil", "Peru", "Kenya")[i % 3], 2000 + i % 25] for i in range(60)]
    for row in srows:
        suppliers.append(row)
    exp.tables.append([[table_cell(v) for v in r] for r in srows])
    summary = book.create_sheet("Summary")  # two tables side by side, one empty column between them
    left = [["Bean", "Kg"], ["Arabica", 900], ["Robusta", 600]]
    right = [["Month", "Orders"], ["Jan", 120], ["Feb", 140]]
    for r, (a, b) in enumerate(zip(left, right), start=1):
        summary.cell(r, 1, a[0]), summary.cell(r, 2, a[1]), summary.cell(r, 4, b[0]), summary.cell(r, 5, b[1])
    exp.tables += [[[table_cell(v) for v in r] for r in t] for t in (left, right)]
    exp.headings = [("Orders", 1), ("Suppliers", 1), ("Summary", 1)]
    exp.paragraphs = []
    path = folder / "orders.xlsx"
    book.save(str(path))
    return path, exp


def build_csv(folder: Path) -> tuple[Path, Expected]:
    rows = [["id", "date", "customer", "address", "bean", "kg", "eur", "note"]] + [
        [str(i), f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}", f"Cafe {i % 91}", f"{i} Rua Nova, Porto", ("Arabica", "Robusta")[i % 2],
         str(i % 40 + 1), f"{(i % 40 + 1) * 7.5:.2f}", "fragile, keep dry" if i % 7 == 0 else ""] for i in range(5000)]
    path = folder / "sales.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path, Expected(tables=[[[table_cell(v) for v in r] for r in rows]])


BIG = {"markdown": build_markdown, "html": build_html, "docx": build_docx, "pptx": build_pptx,
       "xlsx": build_xlsx, "csv": build_csv, "epub": build_epub}

# --------------------------------------------------------------------------- scoring


def _row_line(row: list[str]) -> str:
    return "| " + " | ".join(row) + " |"


def score(doc: ExtractedDocument, exp: Expected) -> dict[str, str]:
    heads = {(heading_title(b), b.level) for b in doc.blocks if b.kind == "heading"}
    found_heads = sum(1 for h in exp.headings if h in heads)
    extra = len([b for b in doc.blocks if b.kind == "heading"]) - found_heads
    table_lines = {line.strip() for b in doc.blocks if b.kind == "table" for line in b.text.split("\n")}
    tables = sum(1 for t in exp.tables if all(_row_line(r) in table_lines for r in t))
    list_lines = [line.strip() for b in doc.blocks if b.kind == "list" for line in b.text.split("\n")]
    items = sum(1 for i in exp.items if any(line.endswith(" " + i) for line in list_lines))
    text = " ".join(doc.text.replace("**", "").split())  # Markdown keeps **bold** markup natively
    paras = sum(1 for p in exp.paragraphs if p in text)
    return {"headings": f"{found_heads}/{len(exp.headings)}" + (f" +{extra}" if extra else ""),
            "tables": f"{tables}/{len(exp.tables)}", "lists": f"{items}/{len(exp.items)}",
            "paras": f"{paras}/{len(exp.paragraphs)}", "chars": str(len(doc.text))}


def measure(path: Path, parser: str, exp: Expected, repeat: int) -> dict[str, str]:
    try:
        extract_document(path, parser=parser)  # warm-up: lazy imports and docling's converter
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            doc = extract_document(path, parser=parser)
            times.append(time.perf_counter() - started)
    except ExtractionError as error:
        return {"headings": f"error {error.code}", "tables": "", "lists": "", "paras": "", "chars": "", "s/file": ""}
    return score(doc, exp) | {"s/file": f"{statistics.median(times):.4f}"}


def import_seconds(statement: str) -> float:
    """Seconds to run an import in a fresh interpreter (what one worker process pays once)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=os.environ | {"HF_HUB_OFFLINE": "1"})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not docling_installed():
        sys.exit("docling is not installed: pip install 'mbdg[docling]' (see pyproject.toml)")
    columns = ["format", "file", "KB", "parser", "headings", "tables", "lists", "paras", "chars", "s/file"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        small = write_corpus(Path(tmp) / "small")
        big_dir = Path(tmp) / "big"
        big_dir.mkdir()
        for fmt in DOCLING_FORMATS:
            files = [(small[fmt], SMALL[fmt]), BIG[fmt](big_dir)]
            for path, exp in files:
                for name in ("native", "docling"):
                    result = measure(path, name, exp, args.repeat)
                    rows.append({"format": fmt, "file": path.name, "KB": f"{path.stat().st_size / 1024:.0f}",
                                 "parser": name} | result)
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))
    native = import_seconds("import docx, pptx, openpyxl, lxml.html")
    docling = import_seconds("import docling.document_converter")
    torch = import_seconds("import torch")
    print(f"\nimport, fresh interpreter: native parsers {native:.2f} s; docling {docling:.2f} s "
          f"(of which torch alone {torch:.2f} s)")


if __name__ == "__main__":
    main()
