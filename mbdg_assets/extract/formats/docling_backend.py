"""docling as an optional second parser for the formats it converts offline.

docling (``pip install 'mbdg[docling]'``, its slim build with the format extras) reads DOCX, PPTX,
XLSX, HTML, Markdown, CSV and EPUB with declarative backends: no model weights, no network. Its
PDF and image pipelines need layout-model weights from a hub, so PDFs and images always stay on
our own parsers (pypdfium2, RapidOCR). This module converts with docling's ``DocumentConverter``
and maps the ``DoclingDocument`` tree onto our drafts, so the chunker and everything after it
cannot tell which parser ran.

Which parser reads a format is the extraction option ``parser``: "native" (ours), "docling"
(docling wherever it works offline), or "auto" (the one ``bench/bench_parsers.py`` measured
better per format, see ``AUTO_DOCLING``; native when docling is not installed).
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import Drafts, ExtractionError, Parsed, clean, markdown_tables, open_zip

PARSERS = ("auto", "native", "docling")

# our format name -> (docling InputFormat value, the suffix docling detects it by)
DOCLING_FORMATS: dict[str, tuple[str, str]] = {
    "docx": ("docx", ".docx"), "pptx": ("pptx", ".pptx"), "xlsx": ("xlsx", ".xlsx"),
    "html": ("html", ".html"), "markdown": ("md", ".md"), "csv": ("csv", ".csv"), "epub": ("epub", ".epub"),
}
_ZIPPED = {"docx": "Word document", "pptx": "PowerPoint file", "xlsx": "Excel workbook", "epub": "EPUB"}
# Markdown, HTML and EPUB make '#' / <h1> a Title and '##' a section header of level 1.
_TITLE_IS_H1 = {"markdown", "html", "epub"}

# Formats where "auto" picks docling, from bench/bench_parsers.py (2 cores, docling-slim 2.143.0):
# only XLSX, where docling splits tables that sit side by side or below a title cell (4/4 tables
# kept whole against 2/4) for ~2.6x the seconds per workbook. Everywhere else both kept the same
# headings, tables, lists and paragraphs, and docling was 5-150x slower per file; it also has no
# whitespace between styled runs ('A<b>B</b>C' comes out 'A B C'). Importing it costs ~9 s (torch).
AUTO_DOCLING: frozenset[str] = frozenset({"xlsx"})


def check_parser(parser: str) -> str:
    """A wrong parser name is a configuration mistake, not a bad file: fail loudly at once."""
    if parser not in PARSERS:
        raise ValueError(f"parser must be one of {', '.join(PARSERS)}; got {parser!r}")
    return parser


@lru_cache(maxsize=1)
def docling_installed() -> bool:
    return importlib.util.find_spec("docling") is not None


def extractor_for(fmt: str, parser: str) -> Callable[[Path, bytes], Parsed] | None:
    """The docling extractor when ``parser`` routes format ``fmt`` to docling, else None (native)."""
    check_parser(parser)
    if parser == "native" or fmt not in DOCLING_FORMATS:
        return None
    if parser == "auto" and (fmt not in AUTO_DOCLING or not docling_installed()):
        return None
    if not docling_installed():
        return _not_installed
    return lambda path, data: extract(path, data, fmt)


def _not_installed(path: Path, data: bytes) -> Parsed:
    raise ExtractionError(
        "parser_unavailable",
        f"{path.name}: parser 'docling' was chosen but docling is not installed "
        "(pip install 'mbdg[docling]', or use parser 'auto' / 'native')",
    )


@lru_cache(maxsize=1)
def _converter() -> Any:
    """One converter per process, allowed only the declarative formats, so no model pipeline
    (and no hub download) can be reached; remote and local fetching stay off."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from docling.datamodel.backend_options import HTMLBackendOptions, MsExcelBackendOptions
    from docling.datamodel.base_models import InputFormat
    from docling.document_converter import DocumentConverter, ExcelFormatOption, HTMLFormatOption

    formats = [InputFormat(value) for value, _ in DOCLING_FORMATS.values()]
    no_fetch = {"enable_remote_fetch": False, "enable_local_fetch": False, "fetch_images": False}
    options = {
        InputFormat.HTML: HTMLFormatOption(backend_options=HTMLBackendOptions(**no_fetch)),
        # a lone title cell above a table is a line of text, not a 1x1 table
        InputFormat.XLSX: ExcelFormatOption(backend_options=MsExcelBackendOptions(treat_singleton_as_text=True)),
    }
    return DocumentConverter(allowed_formats=formats, format_options=options)


def warm_up(fmt: str) -> None:
    """Import docling and build the converter and the format's pipeline in this process, so a
    forked reader (extract/worker.py) inherits them: otherwise each file pays the ~12 s import."""
    from docling.datamodel.base_models import InputFormat

    _converter().initialize_pipeline(InputFormat(DOCLING_FORMATS[fmt][0]))


def convert(path: Path, data: bytes, fmt: str) -> Any:
    """bytes -> DoclingDocument; every docling failure becomes one ExtractionError for the file."""
    from docling.datamodel.base_models import ConversionStatus, DocumentStream

    if fmt in _ZIPPED:
        open_zip(path, data, _ZIPPED[fmt]).close()  # truncated / encrypted told apart first, as natively
    name = Path(path.name).stem + DOCLING_FORMATS[fmt][1]  # .htm, .xlsm, .tsv: docling goes by suffix
    try:
        result = _converter().convert(DocumentStream(name=name, stream=io.BytesIO(data)), raises_on_error=False)
    except Exception as exc:  # docling raises its own ConversionError, zip and XML errors alike
        raise ExtractionError("corrupt_file", f"{path.name}: docling could not read it ({type(exc).__name__}: {exc})") from exc
    if result.status not in (ConversionStatus.SUCCESS, ConversionStatus.PARTIAL_SUCCESS):
        reasons = "; ".join(e.error_message for e in result.errors) or result.status.value
        raise ExtractionError("corrupt_file", f"{path.name}: docling could not read it ({reasons})")
    return result.document


def extract(path: Path, data: bytes, fmt: str) -> Parsed:
    """Convert with docling and map its tree onto drafts (headings, paragraphs, lists, tables,
    code, page numbers where docling records them). ``fmt`` is our format name."""
    if fmt not in DOCLING_FORMATS:
        raise ExtractionError("unsupported_format", f"{path.name}: docling is not used for format {fmt!r}")
    doc = convert(path, data, fmt)
    mapper = _Mapper(doc, level_offset=1 if fmt in _TITLE_IS_H1 else 0)
    mapper.children(doc.body)
    return Parsed(mapper.drafts.items, len(doc.pages) or None)


# --------------------------------------------------------------------------- DoclingDocument -> drafts


def _page(item: Any) -> int | None:
    prov = getattr(item, "prov", None)
    return prov[0].page_no if prov else None


def _text(item: Any) -> str:
    return " ".join(clean(getattr(item, "text", "") or "").split())


class _Mapper:
    """Walks the body tree in reading order. Docling nests a section's content under its heading
    item, lists under list groups and styled runs under inline groups, so the walk is recursive."""

    def __init__(self, doc: Any, level_offset: int) -> None:
        from docling_core.types.doc import ContentLayer

        self.doc = doc
        self.level_offset = level_offset
        self.drafts = Drafts()
        self.layers = {ContentLayer.BODY, ContentLayer.NOTES}  # furniture (nav, footers) is dropped

    def children(self, node: Any) -> None:
        for ref in node.children:
            self.item(ref.resolve(self.doc))

    def item(self, item: Any) -> None:
        """Map one node; nodes whose children are already part of their text return early."""
        from docling_core.types.doc import (CodeItem, ContentLayer, GroupItem, GroupLabel, SectionHeaderItem,
                                            TableItem, TextItem, TitleItem)

        if item.content_layer not in self.layers:
            return
        if item.content_layer == ContentLayer.NOTES:
            return self._add("paragraph", "Notes: " + self.inline_text(item), item)
        if getattr(item, "label", None) == GroupLabel.LIST:
            lines: list[tuple[str, int | None]] = []
            self.list_group(item, 0, lines)
            return self.flush_list(lines)
        if _is_inline(item):
            return self._add("paragraph", self.inline_text(item), item)
        if isinstance(item, TableItem):
            return self.table(item)
        if isinstance(item, CodeItem):
            code = clean(item.text).strip("\n")
            lang = str(getattr(getattr(item, "code_language", None), "value", "") or "")
            fence = "" if lang.lower() == "unknown" else lang.lower()
            return self._add("code", f"```{fence}\n{code}\n```" if code.strip() else "", item)
        if isinstance(item, GroupItem):
            self.group(item)
        elif isinstance(item, TitleItem):
            self.heading(_text(item), 1, item)
        elif isinstance(item, SectionHeaderItem):
            self.heading(_text(item), item.level + self.level_offset, item)
        elif isinstance(item, TextItem):
            self._add("paragraph", _text(item), item)
        self.children(item)  # sections nest their content under the heading; pictures their captions

    def _add(self, kind: str, text: str, item: Any) -> None:
        self.drafts.add(kind, text, _page(item))

    def heading(self, title: str, level: int, item: Any) -> None:
        self.drafts.heading("#" * min(level, 6) + " " + title, title, level, _page(item))

    def group(self, item: Any) -> None:
        """Sheets become level-1 headings named after the sheet; a slide without a title gets
        'Slide N', as our own parsers do, so chunks always carry a section name."""
        from docling_core.types.doc import GroupLabel, TitleItem

        if item.label == GroupLabel.SHEET and item.name:
            self.drafts.heading(f"# {item.name}", item.name, 1, self.first_page(item))
        elif item.label in (GroupLabel.CHAPTER, GroupLabel.SLIDE) and item.name.startswith("slide-"):
            kids = [ref.resolve(self.doc) for ref in item.children]
            if not any(isinstance(k, TitleItem) for k in kids):
                number = int(item.name.split("-", 1)[1]) + 1 if item.name.split("-", 1)[1].isdigit() else 0
                page = next((p for p in map(_page, kids) if p), number or None)
                self.drafts.heading(f"# Slide {number}", f"Slide {number}", 1, page)

    def table(self, item: Any) -> None:
        """Cells through our own Markdown renderer: the same compact layout and size cap as the
        native parsers. Rich cells' children are not walked (they are already the cell text)."""
        rows = [[cell.text for cell in row] for row in item.data.grid]
        for table in markdown_tables(rows):
            self._add("table", table, item)
        for ref in getattr(item, "captions", []):
            self._add("paragraph", _text(ref.resolve(self.doc)), item)

    def inline_text(self, item: Any) -> str:
        parts = [_text(item)] + [self.inline_text(ref.resolve(self.doc)) for ref in item.children]
        return _join_runs([p for p in parts if p])

    def list_group(self, group: Any, depth: int, lines: list[tuple[str, int | None]]) -> None:
        """List items become lines of one list block (nested lists indented); anything else
        docling files under a list (a Word table after a numbered list, say) ends the block and
        is mapped as itself."""
        from docling_core.types.doc import ListItem, TextItem

        number = 0
        for child in (ref.resolve(self.doc) for ref in group.children):
            if isinstance(child, ListItem):
                number += 1
                nested = [ref.resolve(self.doc) for ref in child.children]
                inline = [n for n in nested if _is_inline(n) or (isinstance(n, TextItem) and not isinstance(n, ListItem))]
                text = " ".join(" ".join([_text(child)] + [self.inline_text(n) for n in inline]).split())
                if text:
                    lines.append(("  " * depth + (f"{number}. " if child.enumerated else "- ") + text, _page(child)))
                for sub in (n for n in nested if n not in inline):
                    self.list_child(sub, depth + 1, lines)
            else:
                self.list_child(child, depth, lines)

    def list_child(self, child: Any, depth: int, lines: list[tuple[str, int | None]]) -> None:
        from docling_core.types.doc import GroupLabel

        if getattr(child, "label", None) == GroupLabel.LIST:
            self.list_group(child, depth, lines)
        else:
            self.flush_list(lines)
            self.item(child)

    def flush_list(self, lines: list[tuple[str, int | None]]) -> None:
        if lines:
            self.drafts.add("list", "\n".join(text for text, _ in lines), next((p for _, p in lines if p), None))
            lines.clear()

    def first_page(self, item: Any) -> int | None:
        for ref in item.children:
            page = _page(ref.resolve(self.doc))
            if page:
                return page
        return None


_NO_SPACE_BEFORE = re.compile(r"^[,.;:!?%)\]}]")
_NO_SPACE_AFTER = re.compile(r"[(\[{]$")


def _join_runs(parts: list[str]) -> str:
    """Join styled runs of one paragraph. DoclingDocument keeps runs as separate items without
    the whitespace between them (its own exports print 'readings , then'), so a space goes in
    except before closing punctuation and after an opening bracket. Runs split inside a word
    ('A<b>B</b>C') still get a space: that information is gone."""
    text = ""
    for part in parts:
        glue = "" if not text or _NO_SPACE_BEFORE.match(part) or _NO_SPACE_AFTER.search(text) else " "
        text += glue + part
    return text


def _is_inline(item: Any) -> bool:
    from docling_core.types.doc import GroupLabel

    return getattr(item, "label", None) == GroupLabel.INLINE
