"""PowerPoint, Excel and OpenDocument text.

Small dedicated libraries instead of docling: python-pptx / openpyxl / xlrd import in well under a
second and keep what we need (slides as pages, sheets as tables), while docling imports torch
(seconds per process) for the same structure on these formats. ODT is read straight from its XML.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from lxml import etree

from mbdg_assets.extract.limits import current_budget

from .base import OLE_MAGIC, Drafts, ExtractionError, Parsed, clean, markdown_tables, open_zip, require_member, squash

# --------------------------------------------------------------------------- PPTX


def _pptx_table(shape) -> list[str]:
    return markdown_tables([[cell.text for cell in row.cells] for row in shape.table.rows])


def _pptx_text(shape) -> tuple[str, str]:
    """('list' | 'paragraph', text) of a text frame: indented or multi-paragraph frames are lists."""
    paragraphs = [(p.level, clean(p.text).strip()) for p in shape.text_frame.paragraphs]
    paragraphs = [(lvl, text) for lvl, text in paragraphs if text]
    if len(paragraphs) > 1:
        return "list", "\n".join("  " * lvl + "- " + text for lvl, text in paragraphs)
    return "paragraph", paragraphs[0][1] if paragraphs else ""


def _pptx_shapes(drafts: Drafts, shapes, page: int, skip) -> None:
    """Text frames, tables and grouped shapes in the slide's own order (top to bottom)."""
    for shape in sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0))):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            _pptx_shapes(drafts, shape.shapes, page, skip)
        elif getattr(shape, "has_table", False) and shape.has_table:
            for table in _pptx_table(shape):
                drafts.add("table", table, page)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            drafts.add(*_pptx_text(shape), page=page)


_MACRO_SHOW_TYPES = ("application/vnd.ms-powerpoint.template.macroEnabled.main+xml",  # .potm
                     "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml")  # .ppsm


def extract_pptx(path: Path, data: bytes) -> Parsed:
    """One page per slide: its title (or 'Slide N') is a level-1 heading, then text, lists,
    tables, and the speaker notes as a last paragraph."""
    from pptx.opc.package import PartFactory
    from pptx.package import Package
    from pptx.parts.presentation import PresentationPart

    for content_type in _MACRO_SHOW_TYPES:  # python-pptx maps .pptx, .pptm, .potx and .ppsx only
        PartFactory.part_type_for.setdefault(content_type, PresentationPart)
    open_zip(path, data, "PowerPoint file").close()  # tells truncated and encrypted zips apart first
    try:  # the package, not Presentation(): that refuses templates (.potx) and shows (.ppsx) python-pptx reads
        part = Package.open(io.BytesIO(data)).main_document_part
    except Exception as exc:  # python-pptx raises zip, XML and KeyErrors alike
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable PowerPoint file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(part, PresentationPart):
        raise ExtractionError("corrupt_file", f"{path.name}: not a PowerPoint file (its main part is {part.content_type})")
    deck = part.presentation
    drafts = Drafts()
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = clean(title_shape.text).strip() if title_shape is not None and title_shape.has_text_frame else ""
        title = " ".join(title.split()) or f"Slide {number}"
        drafts.heading(f"# {title}", title, 1, page=number)
        _pptx_shapes(drafts, slide.shapes, number, title_shape)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = clean(slide.notes_slide.notes_text_frame.text).strip()
            if notes:
                drafts.add("paragraph", f"Notes: {notes}", page=number)
    return Parsed(drafts.items, len(deck.slides))


# --------------------------------------------------------------------------- XLSX / XLS


def _sheet_blocks(drafts: Drafts, name: str, rows: list[list[object]], page: int) -> None:
    """A sheet is a level-1 heading plus its used range as Markdown tables (header repeated)."""
    tables = markdown_tables(rows)
    if tables:
        drafts.heading(f"# {name}", name, 1, page=page)
        for table in tables:
            drafts.add("table", table, page)


def _cells_allowed() -> int:
    """Cells a sheet may hold under ``max_text_chars``: each renders as at least ' | '."""
    return current_budget().limits.max_text_chars // 3


def _xlsx_rows(sheet) -> list[list[object]]:
    """The rows that hold something, without the padding to the sheet's declared dimension: a
    1.6 KB workbook declaring A1:XFD1048576 would otherwise be padded to 17 billion cells. Cells
    of the rows kept (a row is still padded to its own last cell) are counted against what
    ``max_text_chars`` allows (``_cells_allowed``)."""
    sheet.reset_dimensions()  # read-only sheets pad every row to the declared dimension
    budget = current_budget()
    allowed, cells, rows = _cells_allowed(), 0, []
    for number, row in enumerate(sheet.iter_rows(values_only=True)):
        if number % 4096 == 0:
            budget.check_time()
        if any(value is not None for value in row):
            cells += len(row)
            if cells > allowed:
                budget.fail("too_large", f"sheet {sheet.title!r} has over {allowed:,} cells (row and column padding "
                            "included), more text than max_text_chars allows")
            rows.append(list(row))
    return rows


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def declares_huge_sheet(path: Path, data: bytes) -> bool:
    """Whether a sheet declares a range of more cells than ``max_text_chars`` allows (read from
    the first 64 KB of each sheet). Readers that pad to the declared range (docling) must not get
    such a workbook; ``_xlsx_rows`` reads only the cells that exist."""
    allowed = _cells_allowed()
    archive = open_zip(path, data, "Excel workbook")
    for name in archive.namelist():
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            with archive.open(name) as sheet:
                found = _DIMENSION.search(sheet.read(65_536))
            if found and found.group(3):
                width = _column_number(found.group(3)) - _column_number(found.group(1)) + 1
                height = int(found.group(4)) - int(found.group(2)) + 1
                if width * height > allowed:
                    return True
    return False


def extract_xlsx(path: Path, data: bytes) -> Parsed:
    """Sheets in workbook order (page = sheet number); cached formula values, not formulas. A
    workbook openpyxl refuses (a missing part it wants, such as an external link's) or finds
    empty (Strict Open XML, whose namespaces it does not know) is read again by calamine."""
    import openpyxl

    open_zip(path, data, "Excel workbook").close()
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        refused = ExtractionError("corrupt_file", f"{path.name}: not a readable Excel workbook ({type(exc).__name__}: {exc})")
        return _calamine_instead(path, data, refused)
    drafts = Drafts()
    try:
        current_budget().check_count("sheets", len(book.worksheets), "max_pages")
        for number, sheet in enumerate(book.worksheets, start=1):
            _sheet_blocks(drafts, sheet.title, _xlsx_rows(sheet), number)
    finally:
        book.close()
    read = Parsed(drafts.items, len(book.worksheets))
    return read if read.drafts else _calamine_instead(path, data, read)


def _calamine_instead(path: Path, data: bytes, openpyxl_verdict: ExtractionError | Parsed) -> Parsed:
    """The workbook through calamine after openpyxl refused it (an error) or read no cell (an empty
    result). If calamine cannot make sense of it either, openpyxl's verdict stands (its error, with
    calamine's appended; or its empty sheets, a `no_text` with their count); a verdict of calamine's
    own (password, size) is the file's."""
    try:
        parsed = extract_xlsb(path, data)
    except ExtractionError as error:
        if error.code != "corrupt_file":
            raise
        if isinstance(openpyxl_verdict, Parsed):
            return openpyxl_verdict
        raise ExtractionError(openpyxl_verdict.code, f"{openpyxl_verdict.message}; calamine also failed: {error.message}") from error
    if not parsed.drafts and isinstance(openpyxl_verdict, Parsed):
        return openpyxl_verdict
    return Parsed(parsed.drafts, parsed.pages, "calamine")


def extract_xlsb(path: Path, data: bytes) -> Parsed:
    """Excel workbooks through calamine (Rust, MIT): binary .xlsb, and the .xlsx files openpyxl
    cannot read. Same layout as .xlsx; a sheet calamine does not know (an Excel 4 macro sheet) is
    left out, the others are read."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError as exc:
        raise ExtractionError("encrypted", f"{path.name}: the workbook is password-protected; remove the password first") from exc
    except (CalamineError, ValueError, OSError) as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable Excel workbook ({type(exc).__name__}: {exc})") from exc
    drafts, names = Drafts(), book.sheet_names
    current_budget().check_count("sheets", len(names), "max_pages")
    for number, name in enumerate(names, start=1):
        try:
            sheet = book.get_sheet_by_index(number - 1)
        except CalamineError:  # a macro or dialog sheet: no cells to read
            continue
        _sheet_blocks(drafts, name, _calamine_rows(sheet), number)
    return Parsed(drafts.items, len(names))


def _calamine_rows(sheet) -> list[list[object]]:
    """The sheet's rows that hold something, empty cells as None (as openpyxl gives them). Calamine
    holds a sheet as its used range, so that range is what ``max_text_chars`` must allow."""
    if sheet.height * sheet.width > _cells_allowed():
        current_budget().fail("too_large", f"sheet {sheet.name!r} spans {sheet.height:,} x {sheet.width:,} cells, more text than "
                    "max_text_chars allows")
    rows = sheet.to_python(skip_empty_area=True)
    return [[None if value == "" else value for value in row] for row in rows if any(value != "" for value in row)]


def extract_xls(path: Path, data: bytes) -> Parsed:
    """Legacy .xls (BIFF) through xlrd; same layout as .xlsx."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except xlrd.biffh.XLRDError as exc:
        code = "encrypted" if "encrypt" in str(exc).lower() else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: not a readable .xls workbook ({exc})") from exc
    except Exception as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable .xls workbook ({exc})") from exc
    drafts = Drafts()
    for number in range(book.nsheets):
        sheet = book.sheet_by_index(number)
        _sheet_blocks(drafts, sheet.name, [sheet.row_values(r) for r in range(sheet.nrows)], number + 1)
    return Parsed(drafts.items, book.nsheets)


def check_xls_magic(path: Path, head: bytes) -> None:
    """Legacy workbooks are OLE containers; anything else is misnamed or damaged."""
    if not head.startswith(OLE_MAGIC):
        raise ExtractionError("corrupt_file", f"{path.name}: named .xls but is not an OLE (BIFF) workbook")


# --------------------------------------------------------------------------- ODT

_NS = {
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
}


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _odf_parts(element, parts: list[str]) -> None:
    """Depth-first text of an ODF element; <text:s/>, tabs and line breaks become whitespace."""
    if element.tag == _q("text", "s"):
        parts.append(" " * int(element.get(_q("text", "c"), "1")))
    elif element.tag == _q("text", "tab"):
        parts.append("\t")
    elif element.tag == _q("text", "line-break"):
        parts.append("\n")
    elif element.tag != _q("text", "note-citation"):
        parts.append(element.text or "")
        for child in element:
            _odf_parts(child, parts)
            parts.append(child.tail or "")


def _odf_text(element) -> str:
    parts: list[str] = []
    _odf_parts(element, parts)
    return squash("".join(parts))


def _odf_list(element, depth: int = 0) -> list[str]:
    items = []
    for item in element.iterchildren(_q("text", "list-item")):
        for child in item:
            if child.tag == _q("text", "list"):
                items.extend(_odf_list(child, depth + 1))
            else:
                text = _odf_text(child)
                if text:
                    items.append("  " * depth + "- " + text)
    return items


def _odf_table_rows(element) -> list[list[str]]:
    rows = []
    for row in element.iter(_q("table", "table-row")):
        cells = []
        for cell in row.iterchildren(_q("table", "table-cell"), _q("table", "covered-table-cell")):
            repeat = min(int(cell.get(_q("table", "number-columns-repeated"), "1")), 50)
            cells.extend([" ".join(_odf_text(p) for p in cell)] * repeat)
        rows.append(cells)
    return rows


def _odf_table(element) -> list[str]:
    return markdown_tables(_odf_table_rows(element))


def _odf_walk(drafts: Drafts, parent) -> None:
    for child in parent:
        if child.tag == _q("text", "h"):
            level = int(child.get(_q("text", "outline-level"), "1"))
            title = _odf_text(child)
            drafts.heading("#" * min(level, 6) + " " + title, title, level)
        elif child.tag == _q("text", "p"):
            drafts.add("paragraph", _odf_text(child))
        elif child.tag == _q("text", "list"):
            drafts.add("list", "\n".join(_odf_list(child)))
        elif child.tag == _q("table", "table"):
            for table in _odf_table(child):
                drafts.add("table", table)
        elif child.tag == _q("text", "section"):
            _odf_walk(drafts, child)


def _odf_sheets(drafts: Drafts, body) -> None:
    """Spreadsheets: a heading per sheet, its non-empty rows as tables (a template declares
    thousands of repeated empty rows and columns; they are not text)."""
    for sheet in body.iterchildren(_q("table", "table")):
        name = sheet.get(_q("table", "name")) or "Sheet"
        drafts.heading(f"## {name}", name, 2)
        rows = []
        for row in _odf_table_rows(sheet):
            while row and not row[-1]:
                row.pop()
            if row:
                rows.append(row)
        width = max((len(row) for row in rows), default=0)
        for table in markdown_tables([row + [""] * (width - len(row)) for row in rows]):
            drafts.add("table", table)


def _odf_pages(drafts: Drafts, body, label: str) -> None:
    """Presentations and drawings: a heading per page (its name, else 'Slide N'), then the text
    of its frames in order."""
    for number, page in enumerate(body.iterchildren(_q("draw", "page")), 1):
        if not any(_odf_text(p) for p in page.iter(_q("text", "p"), _q("text", "h"), _q("table", "table-cell"))):
            continue  # a template's empty page: its placeholders live in styles.xml
        name = page.get(_q("draw", "name")) or f"{label} {number}"
        drafts.heading(f"## {name}", name, 2)
        for box in page.iter(_q("draw", "text-box")):
            _odf_walk(drafts, box)
        for table in page.iter(_q("table", "table")):
            for piece in _odf_table(table):
                drafts.add("table", piece)


def extract_odt(path: Path, data: bytes) -> Parsed:
    """OpenDocument files and templates: text (.odt / .ott: headings with outline levels,
    paragraphs, lists, tables), spreadsheets (.ods / .ots), presentations (.odp / .otp) and
    drawings (.odg / .otg), by the kind of body content.xml holds."""
    archive = open_zip(path, data, "OpenDocument file")
    manifest = archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in archive.namelist() else b""
    if b"encryption-data" in manifest:
        raise ExtractionError("encrypted", f"{path.name}: OpenDocument file is password-protected")
    names = archive.namelist()
    if "content.xml" not in names and "mimetype" in names and archive.read("mimetype").startswith(b"application/vnd.oasis"):
        raise ExtractionError("no_text", f"{path.name}: OpenDocument file with styles only (no content.xml): no text")
    content = require_member(path, archive, "content.xml", "OpenDocument file")
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: content.xml is damaged ({exc})") from exc
    body = root.find(_q("office", "body"))
    drafts = Drafts()
    for kind in (body if body is not None else ()):
        if kind.tag == _q("office", "text"):
            _odf_walk(drafts, kind)
        elif kind.tag == _q("office", "spreadsheet"):
            _odf_sheets(drafts, kind)
        elif kind.tag in (_q("office", "presentation"), _q("office", "drawing")):
            _odf_pages(drafts, kind, "Slide" if kind.tag == _q("office", "presentation") else "Page")
    return Parsed(drafts.items)
