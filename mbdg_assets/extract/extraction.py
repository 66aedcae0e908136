"""Turn one source file into an ExtractedDocument (extract/document.py): the dispatch.

Each format is one function ``(path, data) -> Parsed`` in ``formats/`` plus one ``_FORMATS``
entry here (name, suffixes, optional magic-bytes check from sniffing.py). Extractors only
produce block drafts; offsets, ids and titles are computed once, in ``_assemble``, so a new
format cannot get them wrong. Under ``parser="auto"`` a file one parser cannot read goes to the
other (native <-> docling); every read runs under the file's budget (limits.py).

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
from mbdg_assets.extract.formats import (archive, code, docling_backend, images, legacy_office, mail, markup, notebook, office,
                                         subtitles, web)
from mbdg_assets.extract.formats.docx import extract_docx
from mbdg_assets.extract.formats.text import extract_markdown, extract_text
from mbdg_assets.extract.formats import pdf as pdf_format
from mbdg_assets.extract.folder_scan import special_kind
from mbdg_assets.extract.sniffing import (check_doc_magic, check_pdf_magic, check_text_magic, is_qt_translation,
                                         looks_like_text, sniff, wrong_extension, zip_magic)
from mbdg_assets.extract.document import BLOCK_SEPARATOR, Block, ExtractedDocument
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits, current_budget, reading
from mbdg_assets.extract.formats.base import ExtractionError, Parsed

__all__ = ["EXTRACTOR_VERSION", "ExtractionError", "SUPPORTED_FORMATS", "detect_format", "extract_bytes", "extract_document",
           "parse_bytes", "read_checked"]

_MAGIC_READ = 1 << 20  # detect_format reads at most this much of a file
# Bump when any extractor's output for the same bytes can change: incremental runs re-extract
# documents stored by another version (storage/incremental.py). 2: PDF headings and tables.
# 3: PDF text read from pdfium's characters (pdfminer's word spacing and paragraph gaps differed).
# 4: scanned PDF pages OCRed, UTF-16/32 text read, OCR without the angle classifier, new formats;
#    PDF words hyphenated at a line end joined again, running headers / footers / page numbers dropped,
#    paragraphs running over a page break joined (formats/pdf.py).
# 5: UTF-16 without a BOM in CJK scripts, Qt Linguist .ts files, archive members as documents of their own.
# 6: RTF with escaped backslashes before braces read (was "cut off"); workbooks openpyxl refuses or
#    reads as empty read by calamine; .xlsb.
EXTRACTOR_VERSION = "6"


# --------------------------------------------------------------------------- dispatch


_MAN_SECTION = re.compile(r"^(\.[1-9])[a-z]+$")  # man page sections with a suffix: .1ssl, .3pm, .3perl


@dataclass(frozen=True)
class _Format:
    """One supported format: adding a format is one extractor plus one entry in ``_FORMATS``."""

    name: str
    suffixes: tuple[str, ...]
    extract: Callable[..., Parsed]
    check_magic: Callable[[Path, bytes], None] | None = field(default=None)
    nested: bool = False  # containers (e-mail) get the depth and parse_bytes for what they hold

    def read(self, path: Path, data: bytes, depth: int = 0) -> Parsed:
        """Run the extractor; a container is handed ``parse_bytes`` for its attachments."""
        return self.extract(path, data, depth, parse_bytes) if self.nested else self.extract(path, data)


_FORMATS: tuple[_Format, ...] = (
    _Format("markdown", (".md", ".markdown"), extract_markdown, check_text_magic),
    _Format("text", (".txt", ".text", ".log"), extract_text, check_text_magic),
    _Format("pdf", (".pdf",), pdf_format.extract_pdf, check_pdf_magic),
    _Format("docx", (".docx", ".docm", ".dotx", ".dotm"), extract_docx, zip_magic("Word document")),
    _Format("pptx", (".pptx", ".pptm", ".potx", ".potm", ".ppsx", ".ppsm"), office.extract_pptx, zip_magic("PowerPoint file")),
    _Format("xlsx", (".xlsx", ".xlsm", ".xltx", ".xltm"), office.extract_xlsx, zip_magic("Excel workbook")),
    _Format("xlsb", (".xlsb",), office.extract_xlsb, zip_magic("Excel binary workbook")),
    _Format("xls", (".xls", ".xlt"), office.extract_xls, office.check_xls_magic),
    _Format("odt", (".odt", ".ott"), office.extract_odt, zip_magic("OpenDocument text")),
    _Format("ods", (".ods", ".ots"), office.extract_odt, zip_magic("OpenDocument spreadsheet")),
    _Format("odp", (".odp", ".otp"), office.extract_odt, zip_magic("OpenDocument presentation")),
    _Format("odg", (".odg", ".otg"), office.extract_odt, zip_magic("OpenDocument drawing")),
    _Format("csv", (".csv", ".tsv"), data_formats.extract_csv, check_text_magic),
    _Format("json", (".json",), data_formats.extract_json, check_text_magic),
    _Format("jsonl", (".jsonl", ".ndjson"), data_formats.extract_jsonl, check_text_magic),
    _Format("html", (".html", ".htm", ".xhtml"), web.extract_html, check_text_magic),
    _Format("epub", (".epub",), web.extract_epub, zip_magic("EPUB book")),
    _Format("eml", (".eml",), mail.extract_eml, check_text_magic, nested=True),
    _Format("msg", (".msg",), mail.extract_msg, None, nested=True),
    _Format("rst", (".rst", ".rest"), markup.extract_rst, check_text_magic),
    _Format("rtf", (".rtf",), markup.extract_rtf, markup.check_rtf_magic),
    _Format("image", (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".heic", ".heif",
                      ".pnm", ".ppm", ".pgm", ".pbm"), images.extract_image,
            images.check_image_magic),
    _Format("yaml", (".yaml", ".yml"), data_formats.extract_yaml, check_text_magic),
    _Format("toml", (".toml",), data_formats.extract_toml, check_text_magic),
    _Format("ini", (".ini", ".cfg", ".conf", ".properties"), data_formats.extract_ini, check_text_magic),
    _Format("notebook", (".ipynb",), notebook.extract_notebook, check_text_magic),
    _Format("subtitles", (".vtt", ".srt"), subtitles.extract_subtitles, check_text_magic),
    _Format("mhtml", (".mht", ".mhtml"), mail.extract_mhtml, check_text_magic),
    _Format("xml", (".xml",), data_formats.extract_xml, check_text_magic),
    _Format("svg", (".svg",), data_formats.extract_svg, check_text_magic),
    _Format("org", (".org",), markup.extract_org, check_text_magic),
    _Format("man", (".man",) + tuple(f".{n}" for n in range(1, 10)), markup.extract_man, check_text_magic),
    _Format("python", (".py", ".pyw"), code.extract_python, check_text_magic),
    _Format("code", tuple(s for s in code.LANGUAGES if s not in (".py",)), code.extract_code, check_text_magic),
    _Format("qt_translation", (), data_formats.extract_qt_translations, check_text_magic),  # .ts by content
    _Format("smime", (".p7s", ".p7m"), mail.extract_smime, None, nested=True),
    _Format("doc", (".doc", ".dot"), legacy_office.extract_doc, check_doc_magic),
    _Format("ppt", (".ppt", ".pot", ".pps"), legacy_office.extract_ppt, legacy_office.check_ole_magic),
    _Format("zip", (".zip",), archive.extract_zip, archive.check_zip_magic, nested=True),
    _Format("tar", (".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz"), archive.extract_tar, archive.check_tar_magic, nested=True),
)
_BY_SUFFIX: dict[str, _Format] = {s: f for f in _FORMATS for s in f.suffixes}
_QT_TRANSLATION = next(f for f in _FORMATS if f.name == "qt_translation")
SUPPORTED_FORMATS: dict[str, str] = {s: f.name for s, f in _BY_SUFFIX.items()}


def _format_for(path: Path, head: bytes) -> _Format:
    """Pick the format by suffix, then confirm it by the first bytes: a file whose bytes are
    another known format is a wrong_extension error that names the right suffix."""
    fmt = _BY_SUFFIX.get(path.suffix.lower()) or _BY_SUFFIX.get(_MAN_SECTION.sub(r"\1", path.suffix.lower()))
    if fmt is None and not path.suffix and (not head or looks_like_text(head)):
        fmt = _BY_SUFFIX[".txt"]  # README, LICENSE, NEWS: text named without a suffix (decided again once read)
    if fmt is None:
        supported = ", ".join(sorted(SUPPORTED_FORMATS))
        error = ExtractionError(
            "unsupported_format",
            f"{path.name}: unsupported file type {path.suffix or '(no suffix, not text)'!r}; supported: {supported}",
        )
        raise wrong_extension(path, head, error) if not path.suffix else error
    if path.suffix.lower() == ".ts" and head and is_qt_translation(head):
        fmt = _QT_TRANSLATION  # Qt Linguist, not TypeScript
    if fmt.check_magic is not None and head:
        try:
            fmt.check_magic(path, head)
        except ExtractionError as error:
            if error.code != "corrupt_file":
                raise
            raise wrong_extension(path, head, error) from None
        _check_zip_kind(path, head)
    return fmt


_SAME_ZIP_KIND = {".xlsb": ".xlsx"}  # a binary workbook's entries start like any workbook's (xl/); calamine reads both


def _check_zip_kind(path: Path, head: bytes) -> None:
    """Zip-based formats all pass the zip check; their first entries tell them apart."""
    sniffed = sniff(head) if head.startswith(b"PK\x03\x04") else None
    if sniffed and sniffed[1] == ".zip":  # every OOXML file is a zip; one whose first entries do not say which is not renamed
        return
    suffix = path.suffix.lower()
    if sniffed and sniffed[1] in _BY_SUFFIX and _BY_SUFFIX[sniffed[1]] is not _BY_SUFFIX.get(_SAME_ZIP_KIND.get(suffix, suffix)):
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


def parse_bytes(path: Path, data: bytes, depth: int = 0) -> Parsed:
    """Parse in-memory bytes named ``path`` (an e-mail attachment, say) with the right extractor."""
    if not data:
        raise ExtractionError("empty_file", f"{path.name}: file is empty (0 bytes)")
    fmt = _format_for(path, data[:_MAGIC_READ])
    return fmt.read(path, data, depth)


def read_checked(path: Path, max_bytes: int) -> bytes:
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


def _assemble(path: Path, fmt: str, data: bytes, parsed: Parsed) -> ExtractedDocument:
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


def _no_text_message(path: Path, parsed: Parsed) -> str:
    if path.suffix.lower() in images_suffixes():
        return f"{path.name}: OCR found no text in {parsed.pages or 1} page(s)"
    if parsed.pages and path.suffix.lower() == ".pdf":
        return f"{path.name}: {parsed.pages} page(s) but no text layer, and OCR found no text on their images"
    if parsed.pages:
        return f"{path.name}: {parsed.pages} page(s) but no text"
    return f"{path.name}: no extractable text (only whitespace or markup)"


_FALLBACK_CODES = ("corrupt_file", "internal_error")  # not passwords, cut-offs, size limits or empty files


def _parsers(path: Path, data: bytes, fmt: _Format, parser: str,
             depth: int = 0) -> list[tuple[str, Callable[[], Parsed]]]:
    """The parsers to try, in order: the chosen one first; under "auto", the other one after it
    where docling reads the format offline and is installed (native <-> docling). ``depth``: the
    archives around the bytes (an archive member), for a container's depth limit."""
    native = ("native", lambda: fmt.read(path, data, depth))
    chosen = docling_backend.extractor_for(fmt.name, parser)
    if chosen is not None:
        chain = [("docling", lambda: chosen(path, data))]
        return chain + [native] if parser == "auto" else chain
    second = docling_backend.extractor_for(fmt.name, "docling") if parser == "auto" else None
    if second is None or not docling_backend.docling_installed():
        return [native]
    return [native, ("docling", lambda: second(path, data))]


def _attempt(path: Path, run: Callable[[], Parsed], more: bool) -> Parsed:
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


def _parse_with_fallback(path: Path, data: bytes, fmt: _Format, parser: str, depth: int = 0) -> tuple[Parsed, str]:
    """(parsed, which parser read it). A parser that cannot make sense of the bytes (corrupt_file,
    a crash inside it) hands the file to the next; if every one fails, the first
    parser's error is raised with what the others said appended."""
    failures: list[tuple[str, ExtractionError]] = []
    chain = _parsers(path, data, fmt, parser, depth)
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
    _format_for(path, b"")  # an unsupported suffix fails before the file is read
    with reading(path.name, limits):
        return extract_bytes(path, read_checked(path, limits.max_file_bytes), parser)


def extract_bytes(path: Path, data: bytes, parser: str = "auto", depth: int = 0) -> ExtractedDocument:
    """The document in ``data`` named ``path`` (a file read, or an archive member inflated by
    ``extract/members.py``), under the budget open for it (``reading``); ``depth``: the archives
    around it."""
    budget = current_budget()
    budget.check_size("bytes", len(data), "max_file_bytes")
    fmt = _format_for(path, data[:_MAGIC_READ])
    if parser == "auto" and fmt.name == "xlsx" and office.declares_huge_sheet(path, data):
        parser = "native"  # docling pads every row to the declared range (issue 16); ours does not
    parsed, used = _parse_with_fallback(path, data, fmt, parser, depth)
    budget.check_count("pages", parsed.pages or 0, "max_pages")
    doc = replace(_assemble(path, fmt.name, data, parsed), parser=parsed.parser or used)
    budget.check_size("characters of text", len(doc.text), "max_text_chars")
    budget.check_count("blocks", len(doc.blocks), "max_blocks")
    return doc


# What each native reader imports when it first runs (the readers import lazily, so `mbdg extract
# file.md` never pays for pdfium or python-pptx).
_READER_MODULES: dict[str, tuple[str, ...]] = {
    "pdf": ("pypdfium2", "pdfplumber.table"), "docx": ("docx",), "pptx": ("pptx",), "xlsx": ("openpyxl",), "xlsb": ("python_calamine",),
    "xls": ("xlrd",), "msg": ("olefile",), "rst": ("docutils.core",), "rtf": ("striprtf.striprtf",),
    "image": ("PIL.Image", "numpy"),
}


def needs_docling(path: Path, parser: str = "auto") -> bool:
    """Whether reading ``path`` goes through docling (whose warm-up a worker must inherit)."""
    fmt = _BY_SUFFIX.get(Path(path).suffix.lower())
    return fmt is not None and docling_backend.extractor_for(fmt.name, parser) not in (None, docling_backend._not_installed)


def prepare_reader(path: Path, parser: str = "auto") -> None:
    """Import, in this process, what reading ``path`` will need, before a worker is forked to read
    it: the worker inherits the modules instead of importing them again for every file (docling:
    ~12 s a file; python-docx and friends: 0.1-0.3 s). Unknown suffixes need nothing."""
    fmt = _BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        return
    for module in _READER_MODULES.get(fmt.name, ()):
        importlib.import_module(module)
    if needs_docling(path, parser):
        docling_backend.warm_up(fmt.name)
