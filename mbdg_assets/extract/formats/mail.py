"""E-mail: .eml through Python's ``email`` package, .msg (Outlook) through olefile.

Attachments are extracted recursively with the same extractors as files on disk, each under an
'Attachment: name' heading, so a PDF sent by mail is as searchable as one in the folder.
olefile (BSD) reads the .msg property streams directly; extract-msg would do more but is GPL,
which an Apache-2.0 tool should not depend on.
"""

from __future__ import annotations

import email
import io
import email.policy
from email.message import EmailMessage
from pathlib import Path

from .base import OLE_MAGIC, Drafts, ExtractionError, Parsed, ParseBytes, clean, decode

MAX_DEPTH = 3  # mail inside mail inside mail: deeper nesting is almost always a loop or a bomb


def _attachment(drafts: Drafts, name: str, data: bytes, depth: int, parse: ParseBytes) -> None:
    """Extract one attachment below an 'Attachment: name' heading with the dispatcher passed in;
    a failure becomes a note, never an error for the whole message."""
    title = f"Attachment: {name}"
    drafts.heading(f"## {title}", title, 2)
    if depth >= MAX_DEPTH:
        drafts.add("paragraph", f"(not read: attachments nested deeper than {MAX_DEPTH} levels)")
        return
    try:
        parsed = parse(Path(name), data, depth + 1)
    except ExtractionError as error:
        drafts.add("paragraph", f"(not read: {error.code}: {error.message})")
        return
    drafts.nest(parsed, 2)


def _header_block(fields: list[tuple[str, str]]) -> str:
    return "\n".join(f"{k}: {' '.join(v.split())}" for k, v in fields if v and v.strip())


# --------------------------------------------------------------------------- EML


def _body_text(part: EmailMessage, path: Path) -> tuple[str, str]:
    """('text' | 'html', content) of a body part, decoded with its declared charset."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, KeyError, AssertionError):
        content = decode(path, part.get_payload(decode=True) or b"")
    if isinstance(content, bytes):
        content = decode(path, content)
    return ("html" if part.get_content_subtype() == "html" else "text"), clean(str(content))


def _add_body(drafts: Drafts, kind: str, text: str, path: Path) -> None:
    if kind == "html":
        from .web import html_drafts

        body = Drafts()
        html_drafts(path, text, body)
        drafts.nest(Parsed(body.items), 1)
    else:
        for paragraph in text.split("\n\n"):
            drafts.add("paragraph", paragraph)


def eml_drafts(path: Path, data: bytes, depth: int, parse: ParseBytes) -> Drafts:
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not any(message.get(h) for h in ("From", "To", "Subject", "Date", "Message-ID", "Content-Type")):
        raise ExtractionError("corrupt_file", f"{path.name}: no e-mail headers (From, To, Subject, Date) found")
    subject = " ".join(str(message.get("Subject", "") or "").split()) or "(no subject)"
    drafts = Drafts()
    drafts.heading(f"# {subject}", subject, 1)
    drafts.add("paragraph", _header_block([(h, str(message.get(h, "") or "")) for h in ("From", "To", "Cc", "Date")]))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        _add_body(drafts, *_body_text(body, path), path)
    for part in message.iter_attachments():
        name = part.get_filename() or ("message.eml" if part.get_content_type() == "message/rfc822" else "attachment.bin")
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            payload = inner[0].as_bytes() if isinstance(inner, list) and inner else part.get_payload(decode=True) or b""
        else:
            payload = part.get_payload(decode=True) or b""
        _attachment(drafts, name, payload, depth, parse)
    return drafts


def extract_eml(path: Path, data: bytes, depth: int, parse: ParseBytes) -> Parsed:
    """Subject as the top heading, From/To/Cc/Date, the plain-text body (HTML body when there is
    no plain one), then every attachment extracted recursively."""
    return Parsed(eml_drafts(path, data, depth, parse).items)


# --------------------------------------------------------------------------- MSG


def _read(ole, name: str) -> bytes:
    """A whole stream; fewer bytes than the directory promises means the file was cut off."""
    try:
        data = ole.openstream(name).read()
    except (OSError, ValueError, IndexError) as exc:
        raise ExtractionError("truncated", f"Outlook stream {name} cannot be read ({exc}): file cut off?") from exc
    if len(data) < ole.get_size(name):
        raise ExtractionError("truncated", f"Outlook stream {name} is shorter than declared: file cut off")
    return data


def _msg_string(ole, prefix: str, prop: str) -> str:
    """A string property: the Unicode stream (001F) if present, else the 8-bit one (001E)."""
    for suffix, encoding in (("001F", "utf-16-le"), ("001E", "cp1252")):
        name = f"{prefix}__substg1.0_{prop}{suffix}"
        if ole.exists(name):
            return clean(_read(ole, name).decode(encoding, errors="replace")).rstrip("\x00")
    return ""


def _msg_attachments(ole) -> list[tuple[str, bytes]]:
    found = []
    folders = sorted({entry[0] for entry in ole.listdir() if entry[0].startswith("__attach_version1.0_")})
    for folder in folders:
        prefix = folder + "/"
        name = _msg_string(ole, prefix, "3707") or _msg_string(ole, prefix, "3704") or "attachment.bin"
        stream = f"{prefix}__substg1.0_37010102"
        if ole.exists(stream):
            found.append((name, _read(ole, stream)))
    return found


def extract_msg(path: Path, data: bytes, depth: int, parse: ParseBytes) -> Parsed:
    """Outlook .msg: subject, sender, recipients, plain body (or HTML body), attachments."""
    import olefile

    if not data.startswith(OLE_MAGIC):
        raise ExtractionError("corrupt_file", f"{path.name}: named .msg but is not an Outlook (OLE) file")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))  # bytes under 1,536 would be taken for a file name
    except (OSError, ValueError, IndexError) as exc:
        code = "truncated" if "incomplete" in str(exc).lower() or "truncated" in str(exc).lower() else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: Outlook file is damaged ({exc})") from exc
    try:
        if not ole.exists("__properties_version1.0"):
            if len(data) % 512:  # OLE files are whole 512-byte sectors; a partial one means cut off
                raise ExtractionError("truncated", f"{path.name}: Outlook file is cut off (directory missing)")
            raise ExtractionError("corrupt_file", f"{path.name}: OLE file without message properties: not an Outlook .msg")
        subject = " ".join(_msg_string(ole, "", "0037").split()) or "(no subject)"
        drafts = Drafts()
        drafts.heading(f"# {subject}", subject, 1)
        headers = [("From", _msg_string(ole, "", "0C1A")), ("To", _msg_string(ole, "", "0E04")),
                   ("Cc", _msg_string(ole, "", "0E03"))]
        drafts.add("paragraph", _header_block(headers))
        body = _msg_string(ole, "", "1000")
        if body.strip():
            _add_body(drafts, "text", body, path)
        elif ole.exists("__substg1.0_10130102"):
            _add_body(drafts, "html", decode(path, _read(ole, "__substg1.0_10130102")), path)
        for name, payload in _msg_attachments(ole):
            _attachment(drafts, name, payload, depth, parse)
        return Parsed(drafts.items)
    except ExtractionError as error:
        raise ExtractionError(error.code, error.message if path.name in error.message else f"{path.name}: {error.message}") from None
    finally:
        ole.close()
