"""PDF: headings, tables and paragraphs with page numbers, in reading order, from the text layer.

Two libraries, each for what it does best (measured in bench/bench_extraction.py):

* pypdfium2 opens every file first: it is fast and tells a password, a cut-off download and
  other damage apart (``encrypted`` / ``truncated`` / ``corrupt_file``). It is also the reader of
  last resort: a page whose characters pdfminer cannot map to text (``(cid:N)``) and a document
  pdfminer fails on are read from pdfium's text layer as plain paragraphs, as before.
* pdfplumber (MIT, on pdfminer.six) reads the rest: every character with its font size and font
  name, and ruled tables (``find_tables``). Font sizes give headings: the body size is the size
  most of the document's characters are set in; lines clearly larger (>= 1.15x) are headings,
  levels by size rank (largest = 1); short all-bold lines at body size are one level below the
  smallest larger size. Tables become Markdown table blocks; their characters are left out of
  the paragraphs, so table text appears once.

Reading order: words are grouped into lines, and a line is cut where a horizontal gap wider than
1.5 font sizes opens (a column gutter). When a page has a vertical gutter that left and right
text lines (each over a fifth of the page wide) sit beside each other across, the text between
two full-width lines (headings, figures) is read left column first, then right. Pages without
such a gutter read top to bottom.

Not handled: scanned pages (no text layer: ``no_text``; OCR the pages as images), tables drawn
without ruling lines (read as paragraphs), lists (read as paragraphs), running headers/footers.
"""

from __future__ import annotations

import io
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, clean, markdown_tables

HEADING_RATIO = 1.15  # a line this much larger than the body text is a heading
_COLUMN_GAP = 1.5  # a gap of this many font sizes inside a line separates two columns
_MIN_COLUMN_WIDTH = 0.2  # of the page width: narrower side-by-side segments are labels, not columns
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_CID = re.compile(r"\(cid:\d+\)")


# --------------------------------------------------------------------------- pypdfium2


def open_pdf(path: Path, data: bytes):
    """Open with pypdfium2, mapping its load errors to encrypted / truncated / corrupt_file."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractionError(
                "encrypted", f"{path.name}: PDF is password-protected; remove the password first"
            ) from exc
        if b"%%EOF" not in data[-2048:] and b"endobj" in data:  # real objects, but the end is missing
            raise ExtractionError("truncated", f"{path.name}: PDF is cut off (no %%EOF end marker): {exc}") from exc
        raise ExtractionError(
            "corrupt_file", f"{path.name}: PDF could not be opened (damaged?): {exc}"
        ) from exc


def _line_box(textpage, text_index: int) -> tuple[float, float] | None:
    """(bottom, top) of the font box of the char at a text index, or None if pdfium has none."""
    import pypdfium2.raw as pdfium_c

    char_index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage.raw, text_index)
    if char_index < 0:
        return None
    try:
        _, bottom, _, top = textpage.get_charbox(char_index, loose=True)
    except Exception:
        return None
    return (bottom, top) if top > bottom else None


def _is_paragraph_gap(prev: tuple[float, float] | None, cur: tuple[float, float] | None) -> bool:
    """A vertical gap over 0.6 line heights, or a jump upward (new column), starts a paragraph."""
    if prev is None or cur is None:
        return False
    gap, height = prev[0] - cur[1], prev[1] - prev[0]
    return gap > 0.6 * height or cur[0] > prev[1] + height


def _page_lines(raw: str) -> Iterator[tuple[int, str, bool]]:
    """(text index of first non-space char, line, blank line before it) for each non-blank line."""
    previous_end = 0
    for match in re.finditer(r"\S[^\r\n]*", raw):
        breaks = len(re.findall(r"\r\n|\r|\n", raw[previous_end : match.start()]))
        yield match.start(), match.group(), breaks >= 2
        previous_end = match.end()


def pdfium_paragraphs(pdf, index: int) -> list[str]:
    """One page's text layer split into paragraphs at blank lines and vertical gaps (pdfium)."""
    page = pdf[index]
    textpage = page.get_textpage()
    paragraphs: list[str] = []
    current: list[str] = []
    prev_box = None
    try:
        for text_index, line, blank_before in _page_lines(textpage.get_text_range()):
            box = _line_box(textpage, text_index)
            if current and (blank_before or _is_paragraph_gap(prev_box, box)):
                paragraphs.append("\n".join(current))
                current = []
            current.append(clean(line).rstrip())
            prev_box = box
    finally:
        textpage.close()
        page.close()
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


# --------------------------------------------------------------------------- pdfplumber layout


@dataclass
class _Item:
    """A text segment (part of one visual line) or a table, placed on its page."""

    top: float
    bottom: float
    x0: float
    x1: float
    text: str = ""
    size: float = 0.0
    bold: bool = False
    table: list[str] = field(default_factory=list)  # Markdown pieces when this is a table


def _rows(words: list[dict]) -> list[list[dict]]:
    """Words grouped into visual rows: a word joins a recent row its vertical middle falls in."""
    rows: list[list[dict]] = []
    bands: list[tuple[float, float]] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        middle = (word["top"] + word["bottom"]) / 2
        for back in range(1, min(4, len(rows)) + 1):
            top, bottom = bands[-back]
            if top <= middle <= bottom:
                rows[-back].append(word)
                break
        else:
            rows.append([word])
            bands.append((word["top"], word["bottom"]))
    return [sorted(row, key=lambda w: w["x0"]) for row in rows]


def _segment(words: list[dict]) -> _Item:
    sizes = [float(w["size"]) for w in words]
    return _Item(min(w["top"] for w in words), max(w["bottom"] for w in words), words[0]["x0"], words[-1]["x1"],
                 " ".join(w["text"] for w in words), round(statistics.median(sizes), 1),
                 all(_BOLD.search(w.get("fontname") or "") for w in words))


def _segments(words: list[dict]) -> list[_Item]:
    """Each row cut into segments at gaps wider than _COLUMN_GAP font sizes."""
    items = []
    for row in _rows(words):
        start = 0
        for i in range(1, len(row)):
            if row[i]["x0"] - row[i - 1]["x1"] > _COLUMN_GAP * float(row[i - 1]["size"]):
                items.append(_segment(row[start:i]))
                start = i
        items.append(_segment(row[start:]))
    return items


def _gutter(items: list[_Item], width: float) -> float | None:
    """The x of a column gutter: the position in the middle half of the page crossed by the
    fewest segments, accepted when text on both sides of it is column-wide and side by side."""
    texts = [i for i in items if not i.table]
    if len(texts) < 6:
        return None
    best, crossing = None, len(texts) + 1
    for x in range(int(width * 0.3), int(width * 0.7) + 1, 2):
        count = sum(1 for i in texts if i.x0 < x < i.x1)
        if count < crossing or (count == crossing and best is not None and abs(x - width / 2) < abs(best - width / 2)):
            best, crossing = x, count
    left = [i for i in texts if i.x1 <= best]
    right = [i for i in texts if i.x0 >= best]
    wide = _MIN_COLUMN_WIDTH * width
    if len(left) < 3 or len(right) < 3:
        return None
    if statistics.median(i.x1 - i.x0 for i in left) < wide or statistics.median(i.x1 - i.x0 for i in right) < wide:
        return None
    beside = sum(1 for r in right if any(l.top < r.bottom and r.top < l.bottom for l in left))
    return best if beside >= 2 else None


def _reading_order(items: list[_Item], width: float) -> list[_Item]:
    """Top to bottom; with a gutter, each stretch between full-width items is read left column
    first, then right."""
    items = sorted(items, key=lambda i: (round(i.top), i.x0))
    gutter = _gutter(items, width)
    if gutter is None:
        return items
    ordered: list[_Item] = []
    left: list[_Item] = []
    right: list[_Item] = []
    for item in items:
        if item.x1 <= gutter:
            left.append(item)
        elif item.x0 >= gutter:
            right.append(item)
        else:  # spans the gutter: ends the stretch
            ordered += left + right + [item]
            left, right = [], []
    return ordered + left + right


def _page_items(page) -> list[_Item]:
    """Tables (as Markdown) and text segments of one pdfplumber page, in reading order."""
    tables = []
    for table in page.find_tables():
        pieces = markdown_tables(table.extract())
        if pieces:
            x0, top, x1, bottom = table.bbox
            tables.append(_Item(top, bottom, x0, x1, table=pieces))

    def outside_tables(obj: dict) -> bool:
        if obj.get("object_type") != "char":
            return True
        mx, my = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(t.x0 <= mx <= t.x1 and t.top <= my <= t.bottom for t in tables)

    text_page = page.filter(outside_tables) if tables else page
    words = text_page.extract_words(extra_attrs=["size", "fontname"], keep_blank_chars=False)
    return _reading_order(_segments(words) + tables, float(page.width))


@dataclass
class _Styles:
    """Document-wide font facts: the body size and the heading level of each larger size."""

    body: float
    levels: dict[float, int]

    def level(self, item: _Item) -> int:
        """Heading level of a text line, 0 for body text."""
        text = item.text.strip()
        if len(text) > 200 or sum(c.isalpha() for c in text) < 2:
            return 0
        if item.size in self.levels:
            return self.levels[item.size]
        short = len(text) <= 80 and len(text.split()) <= 12 and not text.endswith((".", ",", ";"))
        if item.bold and short and item.size >= self.body - 0.5:
            return min(len(self.levels) + 1, 6)
        return 0


def _styles(pages: list[list[_Item]]) -> _Styles:
    weights: dict[float, int] = {}
    for items in pages:
        for item in items:
            if not item.table:
                weights[item.size] = weights.get(item.size, 0) + len(item.text)
    body = max(weights, key=lambda s: (weights[s], -s)) if weights else 0.0
    larger = sorted((s for s in weights if s >= body * HEADING_RATIO), reverse=True)
    return _Styles(body, {size: min(rank + 1, 6) for rank, size in enumerate(larger)})


def _emit_page(drafts: Drafts, items: list[_Item], styles: _Styles, page: int) -> None:
    """Drafts for one page: consecutive heading lines of one style make one heading; body lines
    join into a paragraph until a vertical gap, a jump up (next column) or a style change."""
    run: list[_Item] = []
    run_level = 0

    def flush() -> None:
        if not run:
            return
        text = clean(" ".join(i.text for i in run)).strip() if run_level else "\n".join(clean(i.text).rstrip() for i in run)
        if run_level and len(text) > 200:  # a bold or large paragraph, not a heading
            text = "\n".join(clean(i.text).rstrip() for i in run)
            drafts.add("paragraph", text, page)
        elif run_level:
            drafts.heading("#" * run_level + " " + text, text, run_level, page)
        else:
            drafts.add("paragraph", text, page)
        run.clear()

    for item in items:
        if item.table:
            flush()
            for piece in item.table:
                drafts.add("table", piece, page)
            continue
        level = styles.level(item)
        if run:
            last = run[-1]
            height = max(last.bottom - last.top, 1.0)
            gap = item.top - last.bottom
            breaks = gap > 0.6 * height or item.top < last.top - height or level != run_level
            if breaks or (level and (item.size, item.bold) != (last.size, last.bold)):
                flush()
        run_level = level
        run.append(item)
    flush()


def _plumber_pages(data: bytes) -> list[list[_Item]]:
    """Reading-ordered items of every page (pdfplumber); raises whatever pdfminer raises."""
    import pdfplumber

    pages: list[list[_Item]] = []
    with pdfplumber.open(io.BytesIO(data)) as document:
        for page in document.pages:
            pages.append(_page_items(page))
            page.close()
    return pages


def extract_pdf(path: Path, data: bytes) -> Parsed:
    """Headings, tables and paragraphs per page (1-based page numbers); see the module docstring."""
    import pypdfium2 as pdfium

    pdf = open_pdf(path, data)
    try:
        count = len(pdf)
        try:
            pages = _plumber_pages(data)
        except Exception:  # pdfminer gave up on a file pdfium opened: pdfium's text, no structure
            pages = None
        if pages is not None and len(pages) != count:
            pages = None
        styles = _styles(pages) if pages else None
        drafts = Drafts()
        for index in range(count):
            items = pages[index] if pages is not None else None
            if items is None or any(_CID.search(i.text) for i in items if not i.table):
                for paragraph in pdfium_paragraphs(pdf, index):
                    drafts.add("paragraph", paragraph, page=index + 1)
            else:
                _emit_page(drafts, items, styles, index + 1)
    except pdfium.PdfiumError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: PDF page could not be read: {exc}") from exc
    finally:
        pdf.close()
    return Parsed(drafts.items, count)
