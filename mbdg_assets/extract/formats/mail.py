"""E-mail: .eml through Python's ``email`` package, .msg (Outlook) through olefile; web pages saved
as MIME (.mht) through ``email`` too.

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

from mbdg_assets.extract.limits import current_budget

from .base import OLE_MAGIC, Drafts, ExtractionError, Parsed, ParseBytes, as_utf8, clean, decode

_SIGNATURES = ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature")
# mail inside mail inside mail: deeper than the budget's max_archive_depth (3 by default) is
# almost always a loop or a bomb


def _attachment(drafts: Drafts, name: str, data: bytes, depth: int, parse: ParseBytes) -> None:
    """Extract one attachment below an 'Attachment: name' heading with the dispatcher passed in;
    a failure becomes a note, never an error for the whole message."""
    title = f"Attachment: {name}"
    drafts.heading(f"## {title}", title, 2)
    max_depth = current_budget().limits.max_archive_depth
    if depth >= max_depth:
        drafts.add("paragraph", f"(not read: attachments nested deeper than {max_depth} levels, max_archive_depth)")
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
    message = email.message_from_bytes(as_utf8(data), policy=email.policy.default)  # UTF-16 saved mail too
    if not any(message.get(h) for h in ("From", "To", "Subject", "Date", "Message-ID", "Content-Type")):
        raise ExtractionError("corrupt_file", f"{path.name}: no e-mail headers (From, To, Subject, Date) found")
    subject = " ".join(str(message.get("Subject", "") or "").split()) or "(no subject)"
    drafts = Drafts()
    drafts.heading(f"# {subject}", subject, 1)
    drafts.add("paragraph", _header_block([(h, str(message.get(h, "") or "")) for h in ("From", "To", "Cc", "Date")]))
    content = message
    if content.get_content_type() == "multipart/signed" and content.get_payload():  # S/MIME or PGP signed:
        content = content.get_payload(0)  # the first part is the message, the second only the signature
    if content.get_content_type() in ("application/pkcs7-mime", "application/x-pkcs7-mime"):  # opaque-signed
        _attachment(drafts, content.get_filename() or "smime.p7m", content.get_payload(decode=True) or b"", depth, parse)
    body = content.get_body(preferencelist=("plain", "html")) if content.is_multipart() else content
    if body is not None and body.get_content_maintype() == "text":
        _add_body(drafts, *_body_text(body, path), path)
    for part in content.iter_attachments() if content.is_multipart() else ():
        if part.get_content_type() in _SIGNATURES:
            continue
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


# --------------------------------------------------------------------------- MHTML


def extract_mhtml(path: Path, data: bytes) -> Parsed:
    """A web page saved as one file (.mht / .mhtml: a MIME multipart/related message, as browsers
    and Word's "single file web page" save it): its HTML part read like an .html file (the part
    the ``start`` parameter names, else the first HTML part); saved images, styles and scripts
    are not text and are not read."""
    message = email.message_from_bytes(as_utf8(data), policy=email.policy.default)
    parts = [part for part in message.walk() if part.get_content_type() == "text/html"]
    start = (message.get_param("start") or "").strip("<>")
    page = next((p for p in parts if start and (p.get("Content-ID") or "").strip("<>") == start), parts[0] if parts else None)
    if page is None:
        raise ExtractionError("corrupt_file", f"{path.name}: no HTML page inside (not a saved web page?)")
    from .web import html_page

    return html_page(path, _body_text(page, path)[1])


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


# --------------------------------------------------------------------------- S/MIME (.p7m / .p7s)

_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # OID 1.2.840.113549.1.7.2 (CMS signedData)
_ENVELOPED_DATA = bytes.fromhex("2a864886f70d010703")


def _ber(data: bytes, at: int) -> tuple[int, bool, int, int]:
    """(tag, constructed, start of content, end of content) of the BER element at ``at``;
    end is -1 for an indefinite length (Outlook writes those)."""
    if at + 2 > len(data):
        raise ValueError("cut off")
    tag, constructed = data[at], bool(data[at] & 0x20)
    at += 1
    if tag & 0x1F == 0x1F:  # long tag number
        while data[at] & 0x80:
            at += 1
        at += 1
    length = data[at]
    at += 1
    if length == 0x80:
        return tag, constructed, at, -1
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[at:at + size], "big")
        at += size
    if at + length > len(data):
        raise ValueError("cut off")
    return tag, constructed, at, at + length


def _end(data: bytes, element: tuple[int, bool, int, int]) -> int:
    """Where an element ends; an indefinite-length one after its end-of-contents mark."""
    if element[3] != -1:
        return element[3]
    at = element[2]
    while data[at:at + 2] != b"\x00\x00":
        if at >= len(data):
            raise ValueError("cut off")
        at = _end(data, _ber(data, at))
    return at + 2


def _children(data: bytes, start: int, end: int) -> list[tuple[int, bool, int, int]]:
    """The elements inside a constructed element (``end`` -1: up to the end-of-contents mark)."""
    found, at = [], start
    while (end == -1 and data[at:at + 2] != b"\x00\x00") or (end != -1 and at < end):
        element = _ber(data, at)
        found.append(element)
        at = _end(data, element)
    return found


def _octets(data: bytes, element: tuple[int, bool, int, int]) -> bytes:
    """An OCTET STRING's bytes, joining the pieces of a constructed (chunked) one."""
    tag, constructed, start, end = element
    if not constructed:
        return data[start:end]
    return b"".join(_octets(data, child) for child in _children(data, start, end))


def signed_content(data: bytes) -> bytes | None:
    """The message inside a CMS signedData blob (ContentInfo -> SignedData -> encapContentInfo ->
    eContent); None for a detached signature, which carries no content."""
    content_info = _children(data, *_ber(data, 0)[2:])
    if len(content_info) < 2 or data[content_info[0][2]:content_info[0][3]] != _SIGNED_DATA:
        oid = data[content_info[0][2]:content_info[0][3]] if content_info else b""
        raise ValueError("encrypted (envelopedData)" if oid == _ENVELOPED_DATA else "not a CMS signedData structure")
    explicit = content_info[1]
    signed_data = _children(data, explicit[2], explicit[3])[0]
    fields = _children(data, signed_data[2], signed_data[3])
    encap = _children(data, fields[2][2], fields[2][3])  # version, digestAlgorithms, encapContentInfo
    if len(encap) < 2:
        return None
    wrapper = _children(data, encap[1][2], encap[1][3])  # [0] EXPLICIT OCTET STRING
    return _octets(data, wrapper[0]) if wrapper else None


def extract_smime(path: Path, data: bytes, depth: int, parse: ParseBytes) -> Parsed:
    """S/MIME: a .p7m (or .p7s) holding signed content is read as the mail inside it (DER, BER or
    base64); a MIME message with a signed body is read as mail. A detached signature holds no
    message (the signed mail is the .eml it came with), and encrypted mail cannot be read without
    the recipient's key: both are reported as such."""
    import base64
    import binascii

    raw = data
    if not raw.startswith(b"0"):
        text = as_utf8(raw)
        if b":" in text.split(b"\n", 1)[0] and not text.startswith(b"-----"):  # MIME headers: a signed message
            return Parsed(eml_drafts(path, text, depth, parse).items)
        body = b"".join(line for line in text.split(b"\n") if line.strip() and not line.startswith(b"-----"))
        try:
            raw = base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ExtractionError("corrupt_file", f"{path.name}: neither DER, base64 nor MIME S/MIME data") from exc
    try:
        content = signed_content(raw)
    except (ValueError, IndexError) as exc:
        code = "encrypted" if "encrypted" in str(exc) else ("truncated" if "cut off" in str(exc) else "corrupt_file")
        raise ExtractionError(code, f"{path.name}: S/MIME data could not be read ({exc})") from exc
    if content is None:
        raise ExtractionError("no_text", f"{path.name}: a detached S/MIME signature: it holds no message "
                              "(the signed mail is the .eml it was attached to)")
    return Parsed(eml_drafts(path, content, depth, parse).items)
