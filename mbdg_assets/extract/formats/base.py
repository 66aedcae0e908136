"""Building blocks every format extractor shares: the error type, block drafts with a heading
stack, text decoding, Markdown tables, and container checks (zip / OLE).

Kept apart from ``extraction.py`` so format modules can import them without an import cycle
(``extraction.py`` imports the format modules to build its dispatch table).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Protocol
from pathlib import Path


class ExtractionError(Exception):
    """A per-file failure with a short machine code and a human message.

    Callers record ``code`` per file and keep going with the other files, so one bad file
    never stops a run. Codes: empty_file, unsupported_format, wrong_extension, corrupt_file,
    truncated, encrypted, too_large, no_text, unreadable.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


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


class ParseBytes(Protocol):
    """The dispatcher a container format (e-mail today, archives next) is handed to read what it
    holds: ``extraction.parse_bytes``, passed in so no format module imports the dispatch table
    that imports it. ``depth`` is the nesting level of the bytes, for the container's depth limit."""

    def __call__(self, path: Path, data: bytes, depth: int = 0) -> Parsed: ...


class Drafts:
    """Collects drafts and tracks the heading stack, so every format nests headings the same way."""

    def __init__(self) -> None:
        self.items: list[Draft] = []
        self._stack: list[tuple[int, str]] = []

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    def heading(self, text: str, title: str, level: int, page: int | None = None) -> None:
        """A heading closes every open heading at its level or deeper, then opens itself."""
        if not title.strip():
            return
        self._stack = [(lvl, t) for lvl, t in self._stack if lvl < level]
        self.items.append(Draft("heading", text.strip(), self.path, page, level, title.strip()))
        self._stack.append((level, title.strip()))

    def add(self, kind: str, text: str, page: int | None = None) -> None:
        """Add a non-heading block; blank text is dropped (it would be an empty block)."""
        text = text.strip("\n").rstrip() if kind in ("code", "list") else text.strip()
        if text.strip():
            self.items.append(Draft(kind, text, self.path, page))

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


def decode(path: Path, data: bytes) -> str:
    """Decode text files without ever crashing: BOMs first, then utf-8, cp1252, latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return clean(data.decode("utf-16", errors="replace"))
    if b"\x00" in data[:8192]:
        raise ExtractionError(
            "unreadable", f"{path.name}: contains NUL bytes - looks like a binary file, not text"
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return clean(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    return clean(data.decode("latin-1"))


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
    return archive


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
