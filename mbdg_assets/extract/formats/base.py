"""Building blocks every format extractor shares: the error type, block drafts with a heading
stack, text decoding, Markdown tables, and container checks (zip / OLE).

Kept apart from ``extraction.py`` so format modules can import them without an import cycle
(``extraction.py`` imports the format modules to build its dispatch table).
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Protocol
from pathlib import Path

from mbdg_assets.extract.errors import ExtractionError
from mbdg_assets.extract.limits import current_budget


@dataclass(frozen=True)
class Draft:
    """A block before offsets exist; extractors emit these in reading order."""

    kind: str
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    level: int = 0
    title: str = ""  # heading text without markup (headings only)


@dataclass
class Parsed:
    """What an extractor returns: drafts in order, and the page count for paged formats."""

    drafts: list[Draft]
    pages: int | None = None
    parser: str = ""  # set by a reader that is not the plain native one (e.g. "libreoffice+native")


class ParseBytes(Protocol):
    """The dispatcher a container format (e-mail today, archives next) is handed to read what it
    holds: ``extraction.parse_bytes``, passed in so no format module imports the dispatch table
    that imports it. ``depth`` is the nesting level of the bytes, for the container's depth limit."""

    def __call__(self, path: Path, data: bytes, depth: int = 0) -> Parsed: ...


class Drafts:
    """Collects drafts and tracks the heading stack, so every format nests headings the same way.

    Every draft is counted against the file's budget as it is added (characters, blocks, wall
    time), so a reader over a budget stops there instead of building the whole document first."""

    def __init__(self) -> None:
        self.items: list[Draft] = []
        self._stack: list[tuple[int, str]] = []
        self._budget = current_budget()
        self._chars = 0

    def _append(self, draft: Draft) -> None:
        self._chars += len(draft.text)
        self._budget.check_size("characters of text", self._chars, "max_text_chars")
        self._budget.check_count("blocks", len(self.items) + 1, "max_blocks")
        self._budget.check_time()
        self.items.append(draft)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    def heading(self, text: str, title: str, level: int, page: int | None = None) -> None:
        """A heading closes every open heading at its level or deeper, then opens itself."""
        if not title.strip():
            return
        self._stack = [(lvl, t) for lvl, t in self._stack if lvl < level]
        self._append(Draft("heading", text.strip(), self.path, page, level, title.strip()))
        self._stack.append((level, title.strip()))

    def add(self, kind: str, text: str, page: int | None = None) -> None:
        """Add a non-heading block; blank text is dropped (it would be an empty block)."""
        text = text.strip("\n").rstrip() if kind in ("code", "list") else text.strip()
        if text.strip():
            self._append(Draft(kind, text, self.path, page))

    def nest(self, parsed: Parsed, level_offset: int, page: int | None = None) -> None:
        """Replay another document's drafts below the current heading (e-mail attachments, EPUB
        chapters), shifting heading levels so they nest under it."""
        for draft in parsed.drafts:
            if draft.kind == "heading":
                self.heading(draft.text, draft.title, draft.level + level_offset, draft.page or page)
            else:
                self.add(draft.kind, draft.text, draft.page or page)


# --------------------------------------------------------------------------- text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe]")


def clean(text: str) -> str:
    """Unify newlines and drop control characters that would poison training text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return _CONTROL.sub("", text)


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8-sig"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))  # UTF-32-LE's BOM starts like UTF-16-LE's


def _zero_share(sample: bytes, width: int, offset: int) -> float:
    """Share of NUL bytes at byte ``offset`` of each ``width``-byte code unit."""
    column = sample[offset::width]
    return column.count(0) / max(len(column), 1)


def _unit_layout(sample: bytes) -> str | None:
    """UTF-16 / UTF-32 without a BOM, from where the NUL bytes sit: text in Latin scripts puts a
    NUL in the high byte of (nearly) every UTF-16 unit and in three of four UTF-32 bytes, while
    the other bytes are almost never NUL. A candidate is kept only if the sample then decodes."""
    sample = sample[: len(sample) // 4 * 4]
    if len(sample) < 8:
        return None
    zeros = [_zero_share(sample, 4, i) for i in range(4)]
    candidates = []
    if min(zeros[1:]) > 0.9 and zeros[0] < 0.1:
        candidates.append("utf-32-le")
    if min(zeros[:3]) > 0.9 and zeros[3] < 0.1:
        candidates.append("utf-32-be")
    even, odd = _zero_share(sample, 2, 0), _zero_share(sample, 2, 1)
    if odd > 0.3 and even < 0.05:
        candidates.append("utf-16-le")
    if even > 0.3 and odd < 0.05:
        candidates.append("utf-16-be")
    for encoding in candidates:
        try:
            sample.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    return None


_TEXT_CATEGORIES = ("L", "M", "N", "P", "S", "Zs")  # Unicode classes of what people write (not C*: control,
                                                    # unassigned, private use, surrogate; not Zl/Zp)
_WIDE_SCRIPTS = ((0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF),
                 (0xFF00, 0xFFEF))  # CJK punctuation, kana, ideographs, Hangul, full-width forms


_BYTE_SEPARATOR = re.compile(rb"(?<!\x00)[ \n\r](?!\x00)")  # a space or line break that is not an ASCII unit of UTF-16


def _valid_utf8(sample: bytes) -> bool:
    """Whether a sample is UTF-8, allowing a character cut off at its end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _ideographic_share(text: str) -> float:
    """Share of letters that are CJK ideographs, kana, Hangul or full-width forms."""
    letters = [ch for ch in text if ch.isalpha()]
    wide = sum(any(low <= ord(ch) <= high for low, high in _WIDE_SCRIPTS) for ch in letters)
    return wide / max(len(letters), 1)


def _ideographic_utf16(sample: bytes) -> str | None:
    """UTF-16 without a BOM in the scripts where the NUL bytes give no sign (Chinese, Japanese,
    Korean: most units have no NUL byte). An orientation is kept when the sample decodes strictly
    (every surrogate paired), at least 98% of its characters are letters, marks, digits,
    punctuation, symbols, spaces or line breaks (no control, unassigned or private-use code
    points), and at least half its letters are ideographs, kana or Hangul. Byte text in Latin
    scripts also decodes as 'CJK' (the classic "Bush hid the facts" misreading), so a sample whose
    bytes are over 90% printable ASCII is byte text, whatever it decodes to, and so is one where
    spaces and line breaks that are not half of a NUL-padded ASCII unit make 3% of the bytes or more:
    alphabetic text separates its words (10-20% of its bytes), while in UTF-16 CJK such a byte is
    only half of some unit (about 1%)."""
    sample = sample[: len(sample) // 2 * 2]
    ascii_bytes = sum(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    separators = len(_BYTE_SEPARATOR.findall(sample))
    if len(sample) < 4 or ascii_bytes > 0.9 * len(sample) or separators >= 0.03 * len(sample):
        return None
    best, best_share = None, 0.0
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)  # a pair cut at the end waits
        except UnicodeDecodeError:
            continue
        share = sum(ch in "\t\n\r" or unicodedata.category(ch).startswith(_TEXT_CATEGORIES)
                    for ch in text) / max(len(text), 1)
        if share >= 0.98 and _ideographic_share(text) >= 0.5 and share > best_share:
            best, best_share = encoding, share
    return best


def text_encoding(data: bytes) -> str | None:
    """The Unicode encoding a byte-order mark names, or UTF-16 / UTF-32 recognised without one
    (Windows tools save text and mail as UTF-16): from where the NUL bytes sit, or, for Chinese,
    Japanese and Korean text that has few or none, by decoding (``_ideographic_utf16``). None for
    byte-oriented text (UTF-8, cp1252)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    sample = data[:8192]
    if b"\x00" in sample and (found := _unit_layout(sample)):
        return found
    if len(data) % 2 or (b"\x00" not in sample and _valid_utf8(sample)):
        return None  # UTF-16 is whole 2-byte units: an odd length is byte text
    return _ideographic_utf16(sample)


def decode(path: Path, data: bytes) -> str:
    """Decode text files without ever crashing: BOMs and UTF-16/32 first, then utf-8, cp1252,
    latin-1. NUL bytes in anything else mean a binary file, not text."""
    encoding = text_encoding(data)
    if encoding is not None:
        bom = next((b for b, e in _BOMS if e == encoding and data.startswith(b)), b"")
        return clean(data[len(bom):].decode(encoding.removesuffix("-sig"), errors="replace"))
    if b"\x00" in data[:8192]:
        raise ExtractionError(
            "unreadable", f"{path.name}: contains NUL bytes - looks like a binary file, not text"
        )
    for encoding in ("utf-8", "cp1252"):
        try:
            return clean(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    return clean(data.decode("latin-1"))


def as_utf8(data: bytes) -> bytes:
    """UTF-16 / UTF-32 bytes re-encoded as UTF-8 (BOM dropped), for byte-level parsers (e-mail,
    XML declarations) that cannot read wide encodings; other bytes unchanged."""
    encoding = text_encoding(data)
    if encoding is None or encoding == "utf-8-sig":
        return data
    return decode(Path("-"), data).encode("utf-8")


def squash(text: str) -> str:
    """Collapse runs of spaces and blank lines, which HTML and XML text is full of."""
    text = re.sub(r"[ \t\u00a0]+", " ", clean(text))
    return re.sub(r"\s*\n\s*", "\n", text).strip()


# --------------------------------------------------------------------------- tables

TABLE_CHARS = 2000  # a long table is cut into pieces of about this size, each with the header


def table_cell(value: object) -> str:
    """Cell value made safe for one Markdown table cell."""
    text = "" if value is None else str(value)
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        text = text[:-2]  # spreadsheets store 3 as 3.0
    return " ".join(text.split()).replace("|", "\\|")


def markdown_tables(rows: list[list[object]], max_chars: int = TABLE_CHARS) -> list[str]:
    """Render rows as Markdown tables (first row = header; ragged rows padded; empty rows and
    trailing empty columns dropped). A long table becomes several, each repeating the header,
    so chunking (which never splits a table) still gets pieces of a usable size."""
    cells = [[table_cell(v) for v in row] for row in rows]
    cells = [r for r in cells if any(r)]
    if not cells:
        return []
    width = max(max((i + 1 for i, v in enumerate(r) if v), default=0) for r in cells)
    cells = [(r + [""] * width)[:width] for r in cells]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    header = [lines[0], "|" + "---|" * width]
    tables, body = [], []
    for line in lines[1:]:
        if body and sum(len(x) + 1 for x in header + body + [line]) > max_chars:
            tables.append("\n".join(header + body))
            body = []
        body.append(line)
    tables.append("\n".join(header + body))
    return tables


# --------------------------------------------------------------------------- containers

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTED = "EncryptionInfo".encode("utf-16-le")
_ZIP_END = b"PK\x05\x06"


def check_zip(path: Path, head: bytes, label: str) -> None:
    """An OOXML / ODF / EPUB file is a zip; an OLE file with EncryptionInfo is a password-protected
    Office file (Office encrypts by wrapping the zip in OLE)."""
    if head.startswith(b"PK\x03\x04"):
        return
    if head.startswith(OLE_MAGIC) and _OLE_ENCRYPTED in head:
        raise ExtractionError("encrypted", f"{path.name}: {label} is password-protected")
    found = "an OLE file (legacy Office format?)" if head.startswith(OLE_MAGIC) else f"bytes {head[:8]!r}"
    raise ExtractionError(
        "corrupt_file", f"{path.name}: named {path.suffix} but is not a zip-based {label} (found {found})"
    )


def open_zip(path: Path, data: bytes, label: str) -> zipfile.ZipFile:
    """Open a zip container, telling a cut-off download (no end record) from other damage."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        if _ZIP_END not in data[-66_000:]:
            raise ExtractionError(
                "truncated", f"{path.name}: {label} is cut off (the zip end record is missing)"
            ) from exc
        raise ExtractionError("corrupt_file", f"{path.name}: {label} is damaged ({exc})") from exc
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise ExtractionError("encrypted", f"{path.name}: {label} is a password-protected zip")
    check_zip_budget(archive, label, (path.as_posix(), len(data)))
    return archive


RATIO_FLOOR = 1 << 20  # members inflating to less than this are never a bomb, whatever their ratio


def check_zip_budget(archive: zipfile.ZipFile, label: str, container: tuple[str, int]) -> None:
    """Entry count, total inflated size and per-member compression ratio from the central
    directory, before any member is inflated. The inflated size counts against the whole file's
    budget (``Budget.inflate``: a zip inside a zip shares it), ``container`` naming this zip. The declared sizes are a real bound: zipfile stops
    inflating a member at its declared size (and fails its CRC if there was more), and every
    library we hand the bytes to (python-docx, python-pptx, openpyxl, docling) reads through it."""
    budget = current_budget()
    infos = archive.infolist()
    budget.check_count(f"entries in the {label}", len(infos), "max_archive_entries")
    budget.inflate(container, sum(i.file_size for i in infos), label)
    ratio = budget.limits.max_compression_ratio
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > ratio * max(info.compress_size, 1):
            budget.fail("too_large", f"{label} member {info.filename!r} inflates {info.compress_size:,} bytes to "
                        f"{info.file_size:,} (over {ratio:g}x, max_compression_ratio): a zip bomb?")


def require_member(path: Path, archive: zipfile.ZipFile, member: str, label: str) -> bytes:
    """Read one member a format cannot do without; its absence means not this format."""
    try:
        return archive.read(member)
    except KeyError as exc:
        raise ExtractionError(
            "corrupt_file", f"{path.name}: zip file without {member}: not a {label}"
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: {label} part {member} is damaged ({exc})") from exc
