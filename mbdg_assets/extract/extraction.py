"""Turn one source file into an ExtractedDocument: typed blocks laid end to end in one text string.

Every later record (chunk, question, answer) points back at character offsets in
``ExtractedDocument.text``, so the one rule that matters here is
``block.text == doc.text[block.start:block.end]`` for every block.

Each format is one function ``(path, data) -> _Parsed`` plus one ``_FORMATS`` entry (name,
suffixes, optional magic-bytes check). Extractors only produce block drafts; offsets, ids and
titles are computed once, in ``_assemble``, so a new format cannot get them wrong.

Plain Python on purpose (no Dagster): the assets call this, and so can tests and scripts.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from mbdg_assets.extract.formats import data as data_formats
from mbdg_assets.extract.formats import archive, code, docling_backend, images, legacy_office, mail, markup, office, web
from mbdg_assets.extract.formats import pdf as pdf_format
from mbdg_assets.extract.folder_scan import special_kind
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits, current_budget, reading
from mbdg_assets.extract.formats.base import OLE_MAGIC, Draft, Drafts, ExtractionError, Parsed, check_zip, clean, decode, open_zip, text_encoding

__all__ = ["Block", "EXTRACTOR_VERSION", "ExtractedDocument", "ExtractionError", "SUPPORTED_FORMATS", "detect_format",
           "extract_document", "heading_title", "parse_bytes"]

BLOCK_SEPARATOR = "\n\n"
BLOCK_KINDS = ("heading", "paragraph", "table", "code", "list")
_MAGIC_READ = 1 << 20  # detect_format reads at most this much of a file
# Bump when any extractor's output for the same bytes can change: incremental runs re-extract
# documents stored by another version (core/incremental.py). 2: PDF headings and tables.
# 3: PDF text read from pdfium's characters (pdfminer's word spacing and paragraph gaps differed).
# 4: scanned PDF pages OCRed, UTF-16/32 text read, OCR without the angle classifier, new formats;
#    PDF words hyphenated at a line end joined again, running headers / footers / page numbers dropped,
#    paragraphs running over a page break joined (formats/pdf.py).
EXTRACTOR_VERSION = "4"


_Draft, _Parsed, _Drafts = Draft, Parsed, Drafts  # the names the extractors below were written with
_clean, _decode = clean, decode


@dataclass(frozen=True)
class Block:
    """One structural unit of a document; ``text`` is exactly ``doc.text[start:end]``."""

    kind: str
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    start: int
    end: int
    level: int = 0


@dataclass(frozen=True)
class ExtractedDocument:
    """A whole file as text plus blocks; ``doc_id`` is the sha256 of the file's bytes."""

    doc_id: str
    path: str
    format: str
    text: str
    blocks: tuple[Block, ...]
    pages: int | None
    title: str
    parser: str = "native"  # which parser read it: native, docling, libreoffice+native, "docling (after native failed)"


# --------------------------------------------------------------------------- markdown

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]{0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]+\S|[ \t]*$)")
_TABLE_DELIM = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")

_Read = tuple[str, str, int]  # (kind, text, next line index)


def _md_fence(lines: list[str], i: int) -> _Read | None:
    """A fenced code block runs to its closing fence (or the end of file, like CommonMark)."""
    opener = _FENCE.match(lines[i])
    if not opener:
        return None
    fence = opener.group(1)
    j = i + 1
    while j < len(lines):
        closer = _FENCE.match(lines[j])
        if closer and closer.group(1)[0] == fence[0] and len(closer.group(1)) >= len(fence):
            if not lines[j][closer.end():].strip():
                return "code", "\n".join(lines[i : j + 1]), j + 1
        j += 1
    return "code", "\n".join(lines[i:]), j


def _is_table_start(lines: list[str], i: int) -> bool:
    """A pipe table needs a header row with '|' followed by a delimiter row like |---|---|."""
    if i + 1 >= len(lines) or "|" not in lines[i]:
        return False
    return "|" in lines[i + 1] and bool(_TABLE_DELIM.match(lines[i + 1]))


def _md_table(lines: list[str], i: int) -> _Read | None:
    """Header, delimiter and every following non-blank row containing '|' form one table."""
    if not _is_table_start(lines, i):
        return None
    j = i + 2
    while j < len(lines) and lines[j].strip() and "|" in lines[j]:
        j += 1
    return "table", "\n".join(lines[i:j]), j


def _interrupts(lines: list[str], i: int) -> bool:
    """Lines that end a paragraph or list even without a blank line before them."""
    line = lines[i]
    return bool(_FENCE.match(line) or _ATX.match(line) or _RULE.match(line)) or _is_table_start(
        lines, i
    )


def _list_continues(lines: list[str], j: int) -> bool:
    """After a blank line a list goes on only with another item or an indented continuation."""
    k = j
    while k < len(lines) and not lines[k].strip():
        k += 1
    if k >= len(lines):
        return False
    return bool(_LIST_ITEM.match(lines[k])) or lines[k].startswith(("  ", "\t"))


def _md_list(lines: list[str], i: int) -> _Read | None:
    """Consecutive list items (with their continuation lines) are one list block."""
    if not _LIST_ITEM.match(lines[i]) or _RULE.match(lines[i]):
        return None
    j = i + 1
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            if not _list_continues(lines, j):
                break
        elif not line.startswith(("  ", "\t")) and _interrupts(lines, j):
            break
        j += 1
    return "list", "\n".join(lines[i:j]), j


def _md_paragraph(lines: list[str], i: int) -> _Read:
    """Everything else: lines up to a blank line or a line that starts another construct."""
    j = i + 1
    while j < len(lines) and lines[j].strip():
        if _interrupts(lines, j) or _LIST_ITEM.match(lines[j]):
            break
        j += 1
    return "paragraph", "\n".join(lines[i:j]), j


def _extract_markdown(path: Path, data: bytes) -> _Parsed:
    """ATX headings set the heading path; code, tables and lists stay whole; rules are dropped."""
    lines = _decode(path, data).split("\n")
    drafts, i = _Drafts(), 0
    while i < len(lines):
        line = lines[i]
        heading = _ATX.match(line)
        if not line.strip() or _RULE.match(line):
            i += 1
        elif heading:
            drafts.heading(line, heading.group(2), len(heading.group(1)))
            i += 1
        else:
            read = _md_fence(lines, i) or _md_table(lines, i) or _md_list(lines, i)
            kind, text, i = read or _md_paragraph(lines, i)
            drafts.add(kind, text)
    return _Parsed(drafts.items)


# --------------------------------------------------------------------------- plain text

_UNDERLINE = re.compile(r"^[ \t]*(={3,}|-{3,})[ \t]*$")


def _is_caps_heading(lines: list[str]) -> bool:
    """A short single line in ALL CAPS (not a shouted sentence ending in punctuation)."""
    if len(lines) != 1:
        return False
    line = lines[0].strip()
    letters = [c for c in line if c.isalpha()]
    return (
        len(letters) >= 2
        and len(line) <= 80
        and line.upper() == line
        and any(c.isupper() for c in letters)
        and not line.endswith((".", ",", ";", "!", "?"))
    )


def _extract_text(path: Path, data: bytes) -> _Parsed:
    """Paragraphs split on blank lines; ALL-CAPS lines and ===/--- underlined lines are headings."""
    drafts = _Drafts()
    for para in re.split(r"\n[ \t]*\n", _decode(path, data)):
        lines = para.strip("\n").split("\n")
        if len(lines) >= 2 and lines[0].strip() and _UNDERLINE.match(lines[1]):
            level = 1 if "=" in lines[1] else 2
            drafts.heading("\n".join(lines[:2]), lines[0], level)
            drafts.add("paragraph", "\n".join(lines[2:]))
        elif _is_caps_heading(lines):
            drafts.heading(lines[0], lines[0], 1)
        else:
            drafts.add("paragraph", para)
    return _Parsed(drafts.items)


# --------------------------------------------------------------------------- PDF

# pypdfium2 opens (error mapping), pdfplumber reads headings, tables and columns: formats/pdf.py
_extract_pdf = pdf_format.extract_pdf


# --------------------------------------------------------------------------- DOCX

_HEADING_STYLE = re.compile(r"^heading ([1-9])$", re.IGNORECASE)


def _docx_style_names(document) -> dict[str | None, str]:
    """{style id: style name}, built once: python-docx's ``paragraph.style`` scans every style
    per call (measured: 1 s for 200 paragraphs), the dict lookup costs nothing."""
    from docx.enum.style import WD_STYLE_TYPE

    names: dict[str | None, str] = {s.style_id: s.name or "" for s in document.styles}
    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    names[None] = (default.name or "") if default is not None else ""
    return names


def _style_name(paragraph, names: dict[str | None, str] | None = None) -> str:
    if names is None:
        return (paragraph.style.name if paragraph.style is not None else "") or ""
    return names.get(paragraph._p.style, names[None])


def _docx_heading_level(paragraph, names: dict[str | None, str] | None = None) -> int:
    """Heading 1..9 map to their level, Title to 1; anything else is 0 (not a heading)."""
    name = _style_name(paragraph, names)
    match = _HEADING_STYLE.match(name.strip())
    if match:
        return int(match.group(1))
    return 1 if name.strip().lower() == "title" else 0


def _docx_list_marker(paragraph, names: dict[str | None, str] | None = None) -> str | None:
    """'- ' / '1. ' (indented by nesting level) for list paragraphs, None for other paragraphs."""
    name = _style_name(paragraph, names).lower()
    ppr = paragraph._p.pPr
    num_pr = ppr.numPr if ppr is not None else None
    if not name.startswith("list") and num_pr is None:
        return None
    ilvl = num_pr.ilvl.val if num_pr is not None and num_pr.ilvl is not None else 0
    return "  " * int(ilvl or 0) + ("1. " if "number" in name else "- ")


def _table_cell(text: str) -> str:
    """Cell text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _docx_table(table) -> str:
    """Render a table as Markdown: first row is the header, ragged rows padded."""
    rows = [[_table_cell(cell.text) for cell in row.cells] for row in table.rows]
    rows = [r for r in rows if r]
    if not rows or not any(any(r) for r in rows):
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def _docx_paragraph(drafts: _Drafts, paragraph, pending: list[str], names: dict[str | None, str] | None = None) -> None:
    """Route one paragraph: heading, list item (buffered into ``pending``) or plain paragraph."""
    text = _clean(paragraph.text).strip()
    marker = _docx_list_marker(paragraph, names) if text else None
    if marker is not None:
        pending.append(marker + text)
        return
    _flush_list(drafts, pending)
    level = _docx_heading_level(paragraph, names) if text else 0
    if level:
        drafts.heading("#" * min(level, 6) + " " + text, text, level)
    else:
        drafts.add("paragraph", text)


def _flush_list(drafts: _Drafts, pending: list[str]) -> None:
    """Emit buffered list items as one list block."""
    if pending:
        drafts.add("list", "\n".join(pending))
        pending.clear()


def _load_docx(path: Path, data: bytes):
    """Open with python-docx; any failure inside the package is a corrupt file to us."""
    import io

    import docx

    open_zip(path, data, "Word document").close()  # tells truncated and encrypted zips apart first
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zip, XML and KeyErrors alike
        raise ExtractionError(
            "corrupt_file", f"{path.name}: not a readable Word document ({type(exc).__name__}: {exc})"
        ) from exc


def _extract_docx(path: Path, data: bytes) -> _Parsed:
    """Body paragraphs and tables in order; headings as Markdown '#', tables as Markdown tables.

    Headers, footers, footnotes, comments and text boxes are not read in this version.
    """
    from docx.table import Table

    document = _load_docx(path, data)
    drafts, pending = _Drafts(), []
    try:
        names = _docx_style_names(document)
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                _flush_list(drafts, pending)
                drafts.add("table", _docx_table(item))
            else:
                _docx_paragraph(drafts, item, pending, names)
    except ExtractionError:  # over a budget while reading
        raise
    except Exception as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: Word document content is damaged ({exc})") from exc
    _flush_list(drafts, pending)
    return _Parsed(drafts.items)


# --------------------------------------------------------------------------- magic checks


def _check_pdf_magic(path: Path, head: bytes) -> None:
    """A .pdf must carry %PDF near the start (the spec allows up to 1024 bytes of junk first)."""
    if b"%PDF-" not in head[:1024]:
        raise ExtractionError(
            "corrupt_file", f"{path.name}: named .pdf but is not a PDF (starts with {head[:8]!r})"
        )


def _zip_magic(label: str) -> Callable[[Path, bytes], None]:
    """Office Open XML, ODF and EPUB files are zips; an OLE file with an EncryptionInfo stream in
    their place is a password-protected one (check_zip tells which)."""
    return lambda path, head: check_zip(path, head, label)


_BINARY_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "a PDF", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", ".png"),
    (b"\xff\xd8\xff", "a JPEG image", ".jpg"),
    (b"II*\x00", "a TIFF image", ".tif"),
    (b"MM\x00*", "a TIFF image", ".tif"),
    (b"GIF8", "a GIF image", ".gif"),
    (b"{\\rtf", "an RTF document", ".rtf"),
    (OLE_MAGIC, "a legacy Office / Outlook (OLE) file", ".doc/.xls/.ppt/.msg"),
)
_ZIP_KINDS: tuple[tuple[bytes, str, str], ...] = (
    (b"word/", "a Word document", ".docx"),
    (b"ppt/", "a PowerPoint file", ".pptx"),
    (b"xl/", "an Excel workbook", ".xlsx"),
    (b"application/vnd.oasis.opendocument.text", "an OpenDocument text", ".odt"),
    (b"application/epub+zip", "an EPUB book", ".epub"),
)


def _sniff(head: bytes) -> tuple[str, str] | None:
    """(what the bytes are, the usual suffix) for formats recognisable from their first bytes."""
    for signature, what, suffix in _BINARY_SIGNATURES:
        if head.startswith(signature) or (signature == b"%PDF-" and signature in head[:1024]):
            return what, suffix
    if head.startswith(b"PK\x03\x04"):
        found = next(((w, s) for marker, w, s in _ZIP_KINDS if marker in head[:4096]), None)
        return found or ("a zip archive", ".zip")
    return None


def _check_text_magic(path: Path, head: bytes) -> None:
    """Text formats have no magic of their own; a recognisable binary format means a wrong name."""
    sniffed = _sniff(head)
    if sniffed is not None:
        raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is binary")


def _wrong_extension(path: Path, head: bytes, error: ExtractionError) -> ExtractionError:
    """Turn a failed magic check into wrong_extension when the bytes are another known format."""
    sniffed = _sniff(head)
    if sniffed is None and head and (b"\x00" not in head[:8192] or text_encoding(head)):
        sniffed = ("plain text", ".txt")
    if sniffed is None or path.suffix.lower() in sniffed[1].split("/"):
        return error
    what, suffix = sniffed
    return ExtractionError(
        "wrong_extension", f"{error.message}; the content is {what}: rename it to {suffix}"
    )


# --------------------------------------------------------------------------- archives




def _extract_doc(path: Path, data: bytes) -> _Parsed:
    """Legacy Word: LibreOffice converts the binary (OLE) format to .docx, our DOCX reader reads it.
    Word also saves RTF under .doc, and old plain-text manuals carry .doc: read as what they are."""
    if data.lstrip()[:5] == b"{\\rtf":
        return markup.extract_rtf(path, data)
    if not data.startswith(OLE_MAGIC):
        return _extract_text(path, data)
    return legacy_office.extract_via(path, data, "docx", _extract_docx)


def _check_doc_magic(path: Path, head: bytes) -> None:
    """A .doc is a binary Word file (OLE), RTF, or plain text; anything else is misnamed."""
    if head.startswith(OLE_MAGIC) or head.lstrip()[:5] == b"{\\rtf":
        return
    if _sniff(head) is None and (b"\x00" not in head[:8192] or text_encoding(head)):
        return
    raise ExtractionError("corrupt_file", f"{path.name}: named .doc but is neither a Word file, RTF nor text")


def _extract_ppt(path: Path, data: bytes) -> _Parsed:
    return legacy_office.extract_via(path, data, "pptx", office.extract_pptx)


# --------------------------------------------------------------------------- dispatch


_MAN_SECTION = re.compile(r"^(\.[1-9])[a-z]+$")  # man page sections with a suffix: .1ssl, .3pm, .3perl


@dataclass(frozen=True)
class _Format:
    """One supported format: adding a format is one extractor plus one entry in ``_FORMATS``."""

    name: str
    suffixes: tuple[str, ...]
    extract: Callable[..., _Parsed]
    check_magic: Callable[[Path, bytes], None] | None = field(default=None)
    nested: bool = False  # containers (e-mail) get the depth and parse_bytes for what they hold

    def read(self, path: Path, data: bytes, depth: int = 0) -> _Parsed:
        """Run the extractor; a container is handed ``parse_bytes`` for its attachments."""
        return self.extract(path, data, depth, parse_bytes) if self.nested else self.extract(path, data)


_FORMATS: tuple[_Format, ...] = (
    _Format("markdown", (".md", ".markdown"), _extract_markdown, _check_text_magic),
    _Format("text", (".txt", ".text", ".log"), _extract_text, _check_text_magic),
    _Format("pdf", (".pdf",), _extract_pdf, _check_pdf_magic),
    _Format("docx", (".docx",), _extract_docx, _zip_magic("Word document")),
    _Format("pptx", (".pptx",), office.extract_pptx, _zip_magic("PowerPoint file")),
    _Format("xlsx", (".xlsx", ".xlsm"), office.extract_xlsx, _zip_magic("Excel workbook")),
    _Format("xls", (".xls",), office.extract_xls, office.check_xls_magic),
    _Format("odt", (".odt",), office.extract_odt, _zip_magic("OpenDocument text")),
    _Format("csv", (".csv", ".tsv"), data_formats.extract_csv, _check_text_magic),
    _Format("json", (".json",), data_formats.extract_json, _check_text_magic),
    _Format("jsonl", (".jsonl", ".ndjson"), data_formats.extract_jsonl, _check_text_magic),
    _Format("html", (".html", ".htm", ".xhtml"), web.extract_html, _check_text_magic),
    _Format("epub", (".epub",), web.extract_epub, _zip_magic("EPUB book")),
    _Format("eml", (".eml",), mail.extract_eml, _check_text_magic, nested=True),
    _Format("msg", (".msg",), mail.extract_msg, None, nested=True),
    _Format("rst", (".rst", ".rest"), markup.extract_rst, _check_text_magic),
    _Format("rtf", (".rtf",), markup.extract_rtf, markup.check_rtf_magic),
    _Format("image", (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".heic", ".heif"), images.extract_image,
            images.check_image_magic),
    _Format("yaml", (".yaml", ".yml"), data_formats.extract_yaml, _check_text_magic),
    _Format("xml", (".xml",), data_formats.extract_xml, _check_text_magic),
    _Format("org", (".org",), markup.extract_org, _check_text_magic),
    _Format("man", (".man",) + tuple(f".{n}" for n in range(1, 10)), markup.extract_man, _check_text_magic),
    _Format("python", (".py", ".pyw"), code.extract_python, _check_text_magic),
    _Format("code", tuple(s for s in code.LANGUAGES if s not in (".py",)), code.extract_code, _check_text_magic),
    _Format("smime", (".p7s", ".p7m"), mail.extract_smime, None, nested=True),
    _Format("doc", (".doc",), _extract_doc, _check_doc_magic),
    _Format("ppt", (".ppt",), _extract_ppt, legacy_office.check_ole_magic),
    _Format("zip", (".zip",), archive.extract_zip, archive.check_zip_magic, nested=True),
    _Format("tar", (".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz"), archive.extract_tar, archive.check_tar_magic, nested=True),
)
_BY_SUFFIX: dict[str, _Format] = {s: f for f in _FORMATS for s in f.suffixes}
SUPPORTED_FORMATS: dict[str, str] = {s: f.name for s, f in _BY_SUFFIX.items()}


def _format_for(path: Path, head: bytes) -> _Format:
    """Pick the format by suffix, then confirm it by the first bytes: a file whose bytes are
    another known format is a wrong_extension error that names the right suffix."""
    fmt = _BY_SUFFIX.get(path.suffix.lower()) or _BY_SUFFIX.get(_MAN_SECTION.sub(r"\1", path.suffix.lower()))
    if fmt is None:
        supported = ", ".join(sorted(SUPPORTED_FORMATS))
        raise ExtractionError(
            "unsupported_format",
            f"{path.name}: unsupported file type {path.suffix or '(no suffix)'!r}; supported: {supported}",
        )
    if fmt.check_magic is not None and head:
        try:
            fmt.check_magic(path, head)
        except ExtractionError as error:
            if error.code != "corrupt_file":
                raise
            raise _wrong_extension(path, head, error) from None
        _check_zip_kind(path, head)
    return fmt


def _check_zip_kind(path: Path, head: bytes) -> None:
    """Zip-based formats all pass the zip check; their first entries tell them apart."""
    sniffed = _sniff(head) if head.startswith(b"PK\x03\x04") else None
    if sniffed and sniffed[1] == ".zip":  # every OOXML file is a zip; one whose first entries do not say which is not renamed
        return
    if sniffed and sniffed[1] in _BY_SUFFIX and _BY_SUFFIX[sniffed[1]] is not _BY_SUFFIX.get(path.suffix.lower()):
        raise ExtractionError(
            "wrong_extension", f"{path.name}: named {path.suffix} but the content is {sniffed[0]}: rename it to {sniffed[1]}"
        )


def detect_format(path: Path) -> str:
    """Format name for a file: by suffix, with a magic-bytes check so a wrong extension fails early."""
    path = Path(path)
    _format_for(path, b"")  # suffix first: no need to open files we would never read
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_READ)
    except OSError as exc:
        raise ExtractionError("unreadable", f"{path.name}: cannot read file: {exc}") from exc
    return _format_for(path, head).name


def parse_bytes(path: Path, data: bytes, depth: int = 0) -> _Parsed:
    """Parse in-memory bytes named ``path`` (an e-mail attachment, say) with the right extractor."""
    if not data:
        raise ExtractionError("empty_file", f"{path.name}: file is empty (0 bytes)")
    fmt = _format_for(path, data[:_MAGIC_READ])
    return fmt.read(path, data, depth)


def _read_checked(path: Path, max_bytes: int) -> bytes:
    """Read a regular file of at most ``max_bytes``. Opened without blocking and checked on the
    open handle, so a FIFO, device or socket (even one swapped in after a folder scan) is refused
    instead of hanging the run, and a file growing meanwhile is cut off at the limit."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ExtractionError("unreadable", f"{path.name}: cannot read file: {exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ExtractionError("unreadable", f"{path.name}: not a regular file ({special_kind(info.st_mode)})")
            if info.st_size == 0:
                raise ExtractionError("empty_file", f"{path.name}: file is empty (0 bytes)")
            current_budget().check_size("bytes", info.st_size, "max_file_bytes")
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise ExtractionError("unreadable", f"{path.name}: cannot read file: {exc}") from exc
    current_budget().check_size("bytes", len(data), "max_file_bytes")
    return data


def _assemble(path: Path, fmt: str, data: bytes, parsed: _Parsed) -> ExtractedDocument:
    """Lay drafts end to end with BLOCK_SEPARATOR and record each block's offsets."""
    blocks, parts, cursor = [], [], 0
    for draft in parsed.drafts:
        if parts:
            parts.append(BLOCK_SEPARATOR)
            cursor += len(BLOCK_SEPARATOR)
        end = cursor + len(draft.text)
        blocks.append(Block(draft.kind, draft.text, draft.heading_path, draft.page, cursor, end, draft.level))
        parts.append(draft.text)
        cursor = end
    title = next((d.title for d in parsed.drafts if d.kind == "heading" and d.title), path.stem)
    doc_id = hashlib.sha256(data).hexdigest()
    return ExtractedDocument(doc_id, str(path), fmt, "".join(parts), tuple(blocks), parsed.pages, title)


def images_suffixes() -> tuple[str, ...]:
    return next(f.suffixes for f in _FORMATS if f.name == "image")


def _no_text_message(path: Path, parsed: _Parsed) -> str:
    if path.suffix.lower() in images_suffixes():
        return f"{path.name}: OCR found no text in {parsed.pages or 1} page(s)"
    if parsed.pages and path.suffix.lower() == ".pdf":
        return f"{path.name}: {parsed.pages} page(s) but no text layer, and OCR found no text on their images"
    if parsed.pages:
        return f"{path.name}: {parsed.pages} page(s) but no text"
    return f"{path.name}: no extractable text (only whitespace or markup)"


_FALLBACK_CODES = ("corrupt_file", "internal_error")  # not passwords, cut-offs, size limits or empty files


def _parsers(path: Path, data: bytes, fmt: _Format, parser: str) -> list[tuple[str, Callable[[], _Parsed]]]:
    """The parsers to try, in order: the chosen one first; under "auto", the other one after it
    where docling reads the format offline and is installed (native <-> docling)."""
    native = ("native", lambda: fmt.read(path, data))
    chosen = docling_backend.extractor_for(fmt.name, parser)
    if chosen is not None:
        chain = [("docling", lambda: chosen(path, data))]
        return chain + [native] if parser == "auto" else chain
    second = docling_backend.extractor_for(fmt.name, "docling") if parser == "auto" else None
    if second is None or not docling_backend.docling_installed():
        return [native]
    return [native, ("docling", lambda: second(path, data))]


def _attempt(path: Path, run: Callable[[], _Parsed], more: bool) -> _Parsed:
    """Run one parser; no blocks is ``no_text``. With another parser to try (``more``), a crash
    inside this one is an ``internal_error`` to fall back from instead of the end of the file."""
    try:
        parsed = run()
    except ExtractionError:
        raise
    except Exception as exc:
        if not more:
            raise
        raise ExtractionError("internal_error", f"{path.name}: {type(exc).__name__}: {exc}") from exc
    if not parsed.drafts:
        raise ExtractionError("no_text", _no_text_message(path, parsed))
    return parsed


def _parse_with_fallback(path: Path, data: bytes, fmt: _Format, parser: str) -> tuple[_Parsed, str]:
    """(parsed, which parser read it). A parser that cannot make sense of the bytes (corrupt_file,
    a crash inside it) hands the file to the next; if every one fails, the first
    parser's error is raised with what the others said appended."""
    failures: list[tuple[str, ExtractionError]] = []
    chain = _parsers(path, data, fmt, parser)
    for position, (name, run) in enumerate(chain):
        try:
            parsed = _attempt(path, run, more=position < len(chain) - 1)
        except ExtractionError as error:
            failures.append((name, error))
            if error.code not in _FALLBACK_CODES:
                break
            continue
        if not failures:
            return parsed, name
        return parsed, f"{name} (after {', '.join(n for n, _ in failures)} failed: {failures[0][1].code})"
    (first_name, first), others = failures[0], failures[1:]
    if not others:
        raise first
    said = "; ".join(f"{name} also failed: {error.message}" for name, error in others)
    raise ExtractionError(first.code, f"{first.message} [{first_name}]; {said}")


def extract_document(path: Path, max_bytes: int | None = None, parser: str = "auto",
                     limits: ExtractionLimits | None = None) -> ExtractedDocument:
    """Extract one file into text and blocks; raises only ExtractionError for bad input.

    ``parser``: "native", "docling" or "auto" (see ``formats.docling_backend``). ``limits``: the
    per-file budgets (``max_bytes`` overrides its ``max_file_bytes``), enforced while reading;
    wall time is checked cooperatively here, ``extract/worker.py`` adds a hard stop. Under "auto" a
    file the first parser cannot read goes to the other (native <-> docling) before it fails; the
    document's ``parser`` says which one read it."""
    path = Path(path)
    limits = limits or DEFAULT_LIMITS
    if max_bytes is not None:
        limits = limits.with_values(max_file_bytes=max_bytes)
    docling_backend.check_parser(parser)
    fmt = _format_for(path, b"")
    with reading(path.name, limits) as budget:
        data = _read_checked(path, limits.max_file_bytes)
        fmt = _format_for(path, data[:_MAGIC_READ])
        if parser == "auto" and fmt.name == "xlsx" and office.declares_huge_sheet(path, data):
            parser = "native"  # docling pads every row to the declared range (issue 16); ours does not
        parsed, used = _parse_with_fallback(path, data, fmt, parser)
        budget.check_count("pages", parsed.pages or 0, "max_pages")
        doc = replace(_assemble(path, fmt.name, data, parsed), parser=parsed.parser or used)
        budget.check_size("characters of text", len(doc.text), "max_text_chars")
        budget.check_count("blocks", len(doc.blocks), "max_blocks")
        return doc


# What each native reader imports when it first runs (the readers import lazily, so `mbdg extract
# file.md` never pays for pdfium or python-pptx).
_READER_MODULES: dict[str, tuple[str, ...]] = {
    "pdf": ("pypdfium2", "pdfplumber.table"), "docx": ("docx",), "pptx": ("pptx",), "xlsx": ("openpyxl",),
    "xls": ("xlrd",), "msg": ("olefile",), "rst": ("docutils.core",), "rtf": ("striprtf.striprtf",),
    "image": ("PIL.Image", "numpy"),
}


def prepare_reader(path: Path, parser: str = "auto") -> None:
    """Import, in this process, what reading ``path`` will need, before a worker is forked to read
    it: the worker inherits the modules instead of importing them again for every file (docling:
    ~12 s a file; python-docx and friends: 0.1-0.3 s). Unknown suffixes need nothing."""
    fmt = _BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        return
    for module in _READER_MODULES.get(fmt.name, ()):
        importlib.import_module(module)
    if docling_backend.extractor_for(fmt.name, parser) not in (None, docling_backend._not_installed):
        docling_backend.warm_up(fmt.name)


def heading_title(block: Block) -> str:
    """A heading block's title without markup ('## B' -> 'B', 'Intro\\n=====' -> 'Intro')."""
    first = block.text.split("\n", 1)[0]
    match = _ATX.match(first)
    return (match.group(2) if match else first).strip()
