"""PDF: headings, tables and paragraphs with page numbers, in reading order, from the text layer.

pypdfium2 (pdfium, C) does nearly all of it, because it is fast: pdfminer's page parse, which
pdfplumber reads characters with, cost 0.1-0.3 s per page; pdfium's is ~50x cheaper
(bench/bench_extraction.py).

* pypdfium2 opens every file first and tells a password, a cut-off download and other damage
  apart (``encrypted`` / ``truncated`` / ``corrupt_file``).
* It then gives every character with its box, its font size as drawn (Tf size times the text
  matrix scale) and its font name, and every painted path. Font sizes give headings: the body
  size is the size most of the document's characters are set in; lines clearly larger (>= 1.15x)
  are headings, levels by size rank (largest = 1); short all-bold lines (font name says bold) at
  body size are one level below the smallest larger size. Pages are read as shown (``/Rotate``
  applied).
* Ruled tables: the horizontal and vertical segments of the painted paths go to pdfplumber's
  table finder (MIT; its "lines" strategy, with the edges given explicitly, so pdfminer never
  parses the page); a cell's text is the pdfium characters centred in it. Tables become Markdown
  table blocks; their characters are left out of the paragraphs, so table text appears once.
* If this structured reading fails on a file pdfium opened, the whole document is read from
  pdfium's plain text layer as paragraphs (``pdfium_paragraphs``).

Reading order: words are grouped into lines, and a line is cut where a horizontal gap wider than
1.5 font sizes opens (a column gutter). When a page has a vertical gutter that left and right
text lines (each over a fifth of the page wide) sit beside each other across, the text between
two full-width lines (headings, figures) is read left column first, then right. Pages without
such a gutter read top to bottom.

Running headers and footers (the same text on the first or last line of at least 3 pages and
half of them) and page numbers are dropped, a paragraph that runs on over a page break is joined,
and a word hyphenated at a line end is made whole (``join_lines``): an exact sentence of the PDF
is then a sentence of the extracted text (issue 14).

Scanned pages (fewer than 16 characters of text layer, and an image on the page) are rendered by
pdfium at the OCR engine's working size and read by RapidOCR (``images.ocr_paragraphs``); in a
mixed PDF only those pages are rendered, and their paragraphs keep their page numbers.

Not handled: tables drawn without ruling lines (read as paragraphs), lists (read as paragraphs).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from mbdg_assets.extract.limits import current_budget

from .base import Draft, Drafts, ExtractionError, Parsed, clean, markdown_tables
from .images import OCR_SIDE, ocr_paragraphs

HEADING_RATIO = 1.15  # a line this much larger than the body text is a heading
_COLUMN_GAP = 1.5  # a gap of this many font sizes inside a line separates two columns
_MIN_COLUMN_WIDTH = 0.2  # of the page width: narrower side-by-side segments are labels, not columns
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)


# --------------------------------------------------------------------------- pypdfium2


def join_lines(lines: list[str]) -> str:
    """A paragraph's lines, with a word the typesetter hyphenated at a line end made whole: the
    piece on the next line moves up ('subst-' + 'itute for' -> 'substitute' / 'for'). Before a
    lower-case letter the hyphen goes (a break inside a word); before a capital it stays, the
    word joined ('Disk-' + 'Cache' -> 'Disk-Cache'), since that may be a compound. Without this
    an exact sentence of the PDF no longer matches its own source (issue 14)."""
    out: list[str] = []
    for line in lines:
        previous = out[-1] if out else ""
        if len(previous) >= 2 and previous.endswith("-") and previous[-2].isalpha() and line[:1].isalpha():
            head, _, rest = line.partition(" ")
            out[-1] = (previous[:-1] if line[:1].islower() else previous) + head
            if rest.strip():
                out.append(rest)
            continue
        out.append(line)
    return "\n".join(out)


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
                paragraphs.append(join_lines(current))
                current = []
            current.append(clean(line).rstrip())
            prev_box = box
    finally:
        textpage.close()
        page.close()
    if current:
        paragraphs.append(join_lines(current))
    return paragraphs


# --------------------------------------------------------------------------- pdfium characters and ruling lines


@dataclass(frozen=True)
class _Frame:
    """Maps PDF user space (origin bottom-left) to the page as shown: origin top-left, y down,
    ``/Rotate`` applied, so layout code sees what a reader sees."""

    left: float
    top: float
    width: float  # of the unrotated media box
    height: float
    quarter_turns: int  # clockwise

    @classmethod
    def of(cls, page) -> _Frame:
        left, bottom, right, top = page.get_mediabox()
        return cls(left, top, right - left, top - bottom, (page.get_rotation() // 90) % 4)

    @property
    def shown_width(self) -> float:
        return self.height if self.quarter_turns % 2 else self.width

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """(x0, top, x1, bottom) on the shown page of a user-space rectangle (x0 <= x1, y0 <= y1)."""
        u0, u1, v0, v1 = x0 - self.left, x1 - self.left, self.top - y1, self.top - y0
        turns = self.quarter_turns
        if turns == 0:
            return u0, v0, u1, v1
        if turns == 1:
            return self.height - v1, u0, self.height - v0, u1
        if turns == 2:
            return self.width - u1, self.height - v1, self.width - u0, self.height - v0
        return v0, self.width - u1, v1, self.width - u0


# (text, x0, top, x1, bottom, size, bold, starts a word): one character as shown on the page
_Char = tuple[str, float, float, float, float, float, bool, bool]


def _style(raw, index: int, cache: dict) -> tuple[float, bool]:
    """(size as drawn, bold) of a char, looked up once per text object. pdfium's font size is the
    one set with Tf, before the text matrix scales it (``1 Tf`` scaled by 12 is 12 pt)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    key = ctypes.cast(pdfium_c.FPDFText_GetTextObject(raw, index), ctypes.c_void_p).value
    if key not in cache:
        matrix = pdfium_c.FS_MATRIX()
        scale = math.hypot(matrix.c, matrix.d) if pdfium_c.FPDFText_GetMatrix(raw, index, matrix) else 1.0
        name = ctypes.create_string_buffer(256)
        pdfium_c.FPDFText_GetFontInfo(raw, index, name, 256, None)
        size = round(pdfium_c.FPDFText_GetFontSize(raw, index) * (scale or 1.0), 1)
        cache[key] = (size, bool(_BOLD.search(name.value.decode("latin-1"))))
    return cache[key]


def _chars(textpage, frame: _Frame) -> list[_Char]:
    """Every visible char of a page with its font box and style; spaces and line breaks (pdfium's
    own and the ones it infers) are left out and mark the next char as a word start."""
    import pypdfium2.raw as pdfium_c

    raw = textpage.raw
    rect = pdfium_c.FS_RECTF()
    cache: dict = {}
    chars: list[_Char] = []
    starts, style = True, (0.0, False)
    for index in range(pdfium_c.FPDFText_CountChars(raw)):
        text = chr(pdfium_c.FPDFText_GetUnicode(raw, index))
        if text == "\x02":  # pdfium's mark for a hyphen that ends a line
            text = "-"
        if text.isspace() or text == "\x00" or not pdfium_c.FPDFText_GetLooseCharBox(raw, index, rect):
            starts = True
            continue
        if starts:
            style = _style(raw, index, cache)
        chars.append((text, *frame.box(rect.left, rect.bottom, rect.right, rect.top), *style, starts))
        starts = False
    return chars


def _words(chars: list[_Char]) -> list[dict]:
    """Chars joined into words, cut where pdfium saw a space or line break, at a gap over 3 pt, a
    step back, or where the next char is not on the same line (pdfplumber's defaults)."""
    words: list[dict] = []
    current: list[_Char] = []
    for char in chars:
        if current:
            last = current[-1]
            if char[7] or char[1] - last[3] > 3 or char[1] < last[1] or char[2] >= last[4] or last[2] >= char[4]:
                words.append(_word(current))
                current = []
        current.append(char)
    if current:
        words.append(_word(current))
    return words


def _word(chars: list[_Char]) -> dict:
    """A word's dict (chars run left to right: _words cuts at a step back)."""
    first = chars[0]
    return {"text": "".join(c[0] for c in chars), "x0": first[1], "top": min(c[2] for c in chars),
            "x1": chars[-1][3], "bottom": max(c[4] for c in chars), "size": first[5], "bold": first[6]}


def _edges(page, frame: _Frame) -> list[dict]:
    """Horizontal and vertical segments of the painted paths on a page (form XObjects included),
    as the edge dicts pdfplumber's table finder takes: the ruling lines tables are drawn with."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    edges: list[dict] = []
    x, y = ctypes.c_float(), ctypes.c_float()
    fill, stroke = ctypes.c_int(), ctypes.c_int()

    def matrix_of(obj) -> tuple[float, ...]:
        m = pdfium_c.FS_MATRIX()
        return (m.a, m.b, m.c, m.d, m.e, m.f) if pdfium_c.FPDFPageObj_GetMatrix(obj, m) else (1, 0, 0, 1, 0, 0)

    def point(seg, chain: list[tuple[float, ...]]) -> tuple[float, float]:
        pdfium_c.FPDFPathSegment_GetPoint(seg, x, y)
        px, py = x.value, y.value
        for a, b, c, d, e, f in chain:  # innermost first
            px, py = a * px + c * py + e, b * px + d * py + f
        return px, py

    def add(p0: tuple[float, float], p1: tuple[float, float]) -> None:
        x0, top, x1, bottom = frame.box(min(p0[0], p1[0]), min(p0[1], p1[1]), max(p0[0], p1[0]), max(p0[1], p1[1]))
        if x1 - x0 < 0.1 and bottom - top >= 1:
            middle = (x0 + x1) / 2
            edges.append({"object_type": "path_edge", "orientation": "v", "x0": middle, "x1": middle,
                          "top": top, "bottom": bottom, "width": 0.0, "height": bottom - top})
        elif bottom - top < 0.1 and x1 - x0 >= 1:
            middle = (top + bottom) / 2
            edges.append({"object_type": "path_edge", "orientation": "h", "x0": x0, "x1": x1,
                          "top": middle, "bottom": middle, "width": x1 - x0, "height": 0.0})

    def path(obj, chain: list[tuple[float, ...]]) -> None:
        if not pdfium_c.FPDFPath_GetDrawMode(obj, fill, stroke) or not (fill.value or stroke.value):
            return  # unpainted (a clip): not a visible line
        start = previous = None
        for index in range(pdfium_c.FPDFPath_CountSegments(obj)):
            seg = pdfium_c.FPDFPath_GetPathSegment(obj, index)
            current = point(seg, chain)
            kind = pdfium_c.FPDFPathSegment_GetType(seg)
            if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
                start = current
            elif kind == pdfium_c.FPDF_SEGMENT_LINETO and previous is not None:
                add(previous, current)
            if pdfium_c.FPDFPathSegment_GetClose(seg) and start is not None:
                add(current, start)
            previous = current

    def walk(objects, chain: list[tuple[float, ...]]) -> None:
        for obj in objects:
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
                path(obj, [matrix_of(obj), *chain])
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                count = pdfium_c.FPDFFormObj_CountObjects(obj)
                walk((pdfium_c.FPDFFormObj_GetObject(obj, i) for i in range(count)), [matrix_of(obj), *chain])

    walk((pdfium_c.FPDFPage_GetObject(page.raw, i) for i in range(pdfium_c.FPDFPage_CountObjects(page.raw))), [])
    return edges


def _inside(chars: list[_Char], box: tuple[float, float, float, float]) -> list[_Char]:
    """The chars whose center is in a box, pdfplumber's rule (right and bottom edges open)."""
    x0, top, x1, bottom = box
    return [c for c in chars if x0 <= (c[1] + c[3]) / 2 < x1 and top <= (c[2] + c[4]) / 2 < bottom]


def _text_of(chars: list[_Char]) -> str:
    """A table cell's text: its words, row by row."""
    return "\n".join(" ".join(w["text"] for w in row) for row in _rows(_words(chars)))


def _tables(edges: list[dict], chars: list[_Char]) -> list[tuple[_Item, list[_Char]]]:
    """Ruled tables found by pdfplumber's table finder on the page's edges, each as a Markdown
    table item with the chars it holds (cell text comes from pdfium's chars, not pdfminer)."""
    if sum(e["orientation"] == "v" for e in edges) < 2 or sum(e["orientation"] == "h" for e in edges) < 2:
        return []
    from pdfplumber.table import TableFinder

    # With explicit edges the finder never reads its page (only the "lines"/"text" strategies do).
    settings = {"vertical_strategy": "explicit", "horizontal_strategy": "explicit",
                "explicit_vertical_lines": [e for e in edges if e["orientation"] == "v"],
                "explicit_horizontal_lines": [e for e in edges if e["orientation"] == "h"]}
    found = []
    for table in TableFinder(None, settings).tables:
        x0, top, x1, bottom = box = table.bbox  # a property computed on every read
        inside = _inside(chars, box)
        rows = []
        for row in table.rows:
            row_chars = _inside(inside, row.bbox)
            rows.append([None if cell is None else _text_of(_inside(row_chars, cell)) for cell in row.cells])
        pieces = markdown_tables(rows)
        if pieces:
            found.append((_Item(top, bottom, x0, x1, table=pieces), inside))
    return found


# --------------------------------------------------------------------------- layout


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
                 all(w["bold"] for w in words))


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


def _page_items(pdf, index: int) -> list[_Item]:
    """Tables (as Markdown) and text segments of one page, in reading order."""
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        frame = _Frame.of(page)
        chars = _chars(textpage, frame)
        tables = _tables(_edges(page, frame), chars) if chars else []
    finally:
        textpage.close()
        page.close()
    in_tables = {id(c) for _, inside in tables for c in inside}
    text = [c for c in chars if id(c) not in in_tables] if in_tables else chars
    return _reading_order(_segments(_words(text)) + [item for item, _ in tables], frame.shown_width)


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
        text = clean(" ".join(i.text for i in run)).strip() if run_level else join_lines([clean(i.text).rstrip() for i in run])
        if run_level and len(text) > 200:  # a bold or large paragraph, not a heading
            text = join_lines([clean(i.text).rstrip() for i in run])
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


_FURNITURE_NUMBER = re.compile(r"(?:page\s*)?#(?:\s*(?:of|/)\s*#)?")


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _without_page_furniture(drafts: list[Draft], pages: int) -> list[Draft]:
    """Drop running headers and footers (the same text, digits aside, as the first or last
    paragraph of at least 3 pages and half of them) and page numbers at a page's top or bottom;
    then join a paragraph that runs on over the page break (no sentence end before it, a
    lower-case start after it), so a sentence is not cut by 'page 3, running title'."""
    edges: dict[int, list[int]] = {}
    for i, draft in enumerate(drafts):
        if draft.kind == "paragraph" and draft.page:
            edges.setdefault(draft.page, []).append(i)
    edge_index = {i: page for page, ids in edges.items() for i in (ids[0], ids[-1])}
    seen: dict[str, set[int]] = {}
    for i, page in edge_index.items():
        seen.setdefault(_furniture_key(drafts[i].text), set()).add(page)
    repeated = {k for k, p in seen.items() if len(p) >= 3 and len(p) >= pages / 2}
    drop = {i for i in edge_index if _furniture_key(drafts[i].text) in repeated
            or (pages > 1 and _FURNITURE_NUMBER.fullmatch(_furniture_key(drafts[i].text)))}
    out: list[Draft] = []
    for i, draft in enumerate(drafts):
        if i in drop:
            continue
        last = out[-1] if out else None
        if (last and last.kind == draft.kind == "paragraph" and last.page and draft.page == last.page + 1
                and not re.search(r"[.!?:;]\W*$", last.text) and draft.text[:1].islower()):
            out[-1] = replace(last, text=join_lines(last.text.split("\n") + draft.text.split("\n")))
            continue
        out.append(draft)
    return out


def _structured_pages(pdf) -> list[list[_Item]]:
    """Reading-ordered items of every page: text from pdfium's chars, tables from pdfplumber's
    table finder on pdfium's ruling lines."""
    budget = current_budget()
    pages = []
    for index in range(len(pdf)):
        budget.check_time()
        pages.append(_page_items(pdf, index))
    return pages


_OCR_MAX_CHARS = 16  # a page with fewer visible characters than this but an image on it is a scan


def needs_ocr(pdf, index: int) -> bool:
    """A page without a text layer (a scanner's stamp of a few characters at most) that shows an
    image: OCR it. Pages with text, and blank pages, are not rendered at all."""
    import pypdfium2.raw as pdfium_c

    page = pdf[index]
    textpage = page.get_textpage()
    try:
        if len("".join(textpage.get_text_range().split())) >= _OCR_MAX_CHARS:
            return False
        return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))
    finally:
        textpage.close()
        page.close()


def _maybe_scanned(items: list[_Item] | None) -> bool:
    """Whether a page's structured reading found too little text to rule out a scan (pages with
    text are not looked at again)."""
    if items is None:
        return True
    visible = sum(len("".join(i.text.split())) + sum(len(t) for t in i.table) for i in items)
    return visible < _OCR_MAX_CHARS


def ocr_page(pdf, index: int) -> list[str]:
    """Render one page straight at the OCR engine's working size (longest side ``OCR_SIDE``
    pixels) and read it; paragraphs in reading order."""
    page = pdf[index]
    try:
        width, height = page.get_size()
        bitmap = page.render(scale=OCR_SIDE / max(width, height, 1.0), may_draw_forms=True)
        image = bitmap.to_pil()
    finally:
        page.close()
    return ocr_paragraphs(image)


def extract_pdf(path: Path, data: bytes) -> Parsed:
    """Headings, tables and paragraphs per page (1-based page numbers); pages without a text
    layer through OCR; see the module docstring."""
    import pypdfium2 as pdfium

    pdf = open_pdf(path, data)
    try:
        count = len(pdf)
        current_budget().check_count("pages", count, "max_pages")
        try:
            pages = _structured_pages(pdf)
        except ExtractionError:  # over a budget (time): no fallback
            raise
        except Exception:  # the layout reader failed on a file pdfium opened: pdfium's text, no structure
            pages = None
        styles = _styles(pages) if pages else None
        drafts = Drafts()
        for index in range(count):
            items = pages[index] if pages is not None else None
            if _maybe_scanned(items) and needs_ocr(pdf, index):
                for paragraph in ocr_page(pdf, index):
                    drafts.add("paragraph", paragraph, page=index + 1)
            elif items is None:
                for paragraph in pdfium_paragraphs(pdf, index):
                    drafts.add("paragraph", paragraph, page=index + 1)
            else:
                _emit_page(drafts, items, styles, index + 1)
    except pdfium.PdfiumError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: PDF page could not be read: {exc}") from exc
    finally:
        pdf.close()
    return Parsed(_without_page_furniture(drafts.items, count), count)
