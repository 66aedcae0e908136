"""What a file's first bytes say it is: each format's magic check, and the name of the real format
when a file carries the wrong suffix (``wrong_extension``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mbdg_assets.extract.formats.base import OLE_MAGIC, ExtractionError, as_utf8, check_zip, text_encoding


def check_pdf_magic(path: Path, head: bytes) -> None:
    """A .pdf must carry %PDF near the start (the spec allows up to 1024 bytes of junk first)."""
    if b"%PDF-" not in head[:1024]:
        raise ExtractionError(
            "corrupt_file", f"{path.name}: named .pdf but is not a PDF (starts with {head[:8]!r})"
        )


def zip_magic(label: str) -> Callable[[Path, bytes], None]:
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


def sniff(head: bytes) -> tuple[str, str] | None:
    """(what the bytes are, the usual suffix) for formats recognisable from their first bytes."""
    for signature, what, suffix in _BINARY_SIGNATURES:
        if head.startswith(signature) or (signature == b"%PDF-" and signature in head[:1024]):
            return what, suffix
    if head.startswith(b"PK\x03\x04"):
        found = next(((w, s) for marker, w, s in _ZIP_KINDS if marker in head[:4096]), None)
        return found or ("a zip archive", ".zip")
    return None


def check_text_magic(path: Path, head: bytes) -> None:
    """Text formats have no magic of their own; a recognisable binary format means a wrong name."""
    sniffed = sniff(head)
    if sniffed is not None:
        raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is binary")


def looks_like_text(head: bytes) -> bool:
    """No known binary signature, and no NUL byte or a UTF-16/32 text encoding."""
    return bool(head) and sniff(head) is None and (b"\x00" not in head[:8192] or text_encoding(head) is not None)


def wrong_extension(path: Path, head: bytes, error: ExtractionError) -> ExtractionError:
    """Turn a failed magic check into wrong_extension when the bytes are another known format."""
    sniffed = ("plain text", ".txt") if looks_like_text(head) else sniff(head)
    if sniffed is None or path.suffix.lower() in sniffed[1].split("/"):
        return error
    what, suffix = sniffed
    return ExtractionError(
        "wrong_extension", f"{error.message}; the content is {what}: rename it to {suffix}"
    )




def check_doc_magic(path: Path, head: bytes) -> None:
    """A .doc is a binary Word file (OLE), RTF, or plain text; anything else is misnamed."""
    if head.startswith(OLE_MAGIC) or head.lstrip()[:5] == b"{\\rtf":
        return
    if sniff(head) is None and (b"\x00" not in head[:8192] or text_encoding(head)):
        return
    raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is neither a Word file, RTF nor text")


_QT_TS = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+TS\b[^>]*>\s*)?<TS[\s>]", re.DOTALL)


def is_qt_translation(head: bytes) -> bool:
    """Whether ``.ts`` bytes are a Qt Linguist translation file (XML whose root is ``<TS``) and
    not TypeScript, which never starts with an XML declaration or a ``<TS`` element."""
    return bool(_QT_TS.match(as_utf8(head[:4096]).removeprefix(b"\xef\xbb\xbf")))
