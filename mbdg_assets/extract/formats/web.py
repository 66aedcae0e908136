"""HTML (a saved web page) and EPUB (a zip of XHTML chapters), through lxml.

lxml is already installed (pandas, python-docx need it) and parses broken real-world HTML; a walk
over the tree keeps headings, tables, lists and code, and drops page furniture (scripts, styles,
navigation, footers) that would otherwise end up as training text.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from lxml import etree, html

from mbdg_assets.extract.limits import current_budget

from .base import Drafts, ExtractionError, Parsed, clean, decode, markdown_tables, open_zip, require_member, squash

DROPPED = {"script", "style", "nav", "footer", "aside", "noscript", "template", "svg", "form", "iframe",
           "button", "select", "head", "canvas", "object", "menu"}
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = {"p", "div", "section", "article", "main", "header", "blockquote", "ul", "ol", "dl", "pre", "table",
          "figure", "figcaption", "hr", "li", "body", "html", "address", "details", "summary", "center"} | set(HEADINGS)


def _tag(element) -> str:
    return element.tag.lower().rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _inline_text(element) -> str:
    """Text of an inline run: <br> is a newline, dropped elements contribute nothing."""
    parts: list[str] = []

    def walk(node) -> None:
        tag = _tag(node)
        if tag in DROPPED or not tag:
            return
        if tag == "br":
            parts.append("\n")
        else:
            parts.append(node.text or "")
            for child in node:
                walk(child)
                parts.append(child.tail or "")

    walk(element)
    return squash("".join(parts))


def _html_list(element, depth: int = 0) -> list[str]:
    ordered = _tag(element) == "ol"
    items = []
    for number, item in enumerate((c for c in element if _tag(c) == "li"), start=1):
        nested = [c for c in item if _tag(c) in ("ul", "ol")]
        for child in nested:
            item.remove(child)  # render the item's own text first, then its sub-list
        text = " ".join(_inline_text(item).split())
        if text:
            items.append("  " * depth + (f"{number}. " if ordered else "- ") + text)
        for child in nested:
            items.extend(_html_list(child, depth + 1))
    return items


def _html_table(element) -> list[str]:
    rows = []
    for row in element.iter():
        if _tag(row) == "tr":
            cells = []
            for cell in row:
                if _tag(cell) in ("td", "th"):
                    colspan = str(cell.get("colspan") or "1")
                    span = min(int(colspan), 50) if colspan.isdigit() and int(colspan) > 0 else 1
                    cells.extend([_inline_text(cell)] + [""] * (span - 1))
            rows.append(cells)
    return markdown_tables(rows)


class _Walker:
    """Depth-first walk that turns block elements into drafts and inline runs into paragraphs."""

    def __init__(self, drafts: Drafts, page: int | None = None) -> None:
        self.drafts = drafts
        self.page = page
        self.inline: list[str] = []

    def flush(self) -> None:
        text = squash("".join(self.inline))
        self.inline = []
        if text:
            self.drafts.add("paragraph", text, self.page)

    def block(self, element) -> None:
        tag = _tag(element)
        if tag in HEADINGS:
            self.flush()
            title = " ".join(_inline_text(element).split())
            self.drafts.heading("#" * HEADINGS[tag] + " " + title, title, HEADINGS[tag], self.page)
        elif tag in ("ul", "ol"):
            self.flush()
            self.drafts.add("list", "\n".join(_html_list(element)), self.page)
        elif tag == "pre":
            self.flush()
            code = clean("".join(element.itertext())).strip("\n")
            self.drafts.add("code", f"```\n{code}\n```" if code.strip() else "", self.page)
        elif tag == "table":
            self.flush()
            for table in _html_table(element):
                self.drafts.add("table", table, self.page)
        else:
            self.children(element)

    def children(self, element) -> None:
        self.inline.append(element.text or "")
        for child in element:
            tag = _tag(child)
            if tag in DROPPED or not tag:
                pass
            elif tag in BLOCKS:
                self.flush()
                self.block(child)
                self.flush()
            elif tag == "br":
                self.inline.append("\n")
            else:
                self.inline.append(_inline_text(child) if tag != "img" else (child.get("alt") or ""))
            self.inline.append(child.tail or "")


def _content_root(root):
    """<main>, else a single <article>, else <body>: saved pages wrap content in furniture."""
    for query in ("//main", "//article"):
        found = root.xpath(query)
        if len(found) == 1:
            return found[0]
    body = root.find("body")
    return body if body is not None else root


def html_drafts(path: Path, text: str, drafts: Drafts, page: int | None = None) -> str:
    """Walk one HTML document into ``drafts``; returns its <title> (may be empty)."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # lxml refuses str input with an encoding declaration
    if not text.strip():
        return ""
    try:
        root = html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: HTML could not be parsed ({exc})") from exc
    title = " ".join((root.findtext(".//title") or "").split())
    walker = _Walker(drafts, page)
    walker.block(_content_root(root))
    walker.flush()
    return title


def extract_html(path: Path, data: bytes) -> Parsed:
    """Headings h1-h6, paragraphs, lists, tables, <pre> code; page furniture dropped."""
    return html_page(path, _html_source(data, path))


def html_page(path: Path, text: str) -> Parsed:
    """One web page's text (an .html file, a saved .mht page). A page with no <h1> gets its
    <title> as the top heading so its chunks still carry a section name."""
    drafts = Drafts()
    title = html_drafts(path, text, drafts)
    if title and not any(d.kind == "heading" and d.level == 1 for d in drafts.items):
        top = Drafts()
        top.heading(f"# {title}", title, 1)
        top.nest(Parsed(drafts.items), 1)
        return Parsed(top.items)
    return Parsed(drafts.items)


def _html_source(data: bytes, path: Path) -> str:
    """Decode with the page's declared charset when it has one, else our text fallbacks."""
    head = data[:4096].lower()
    for marker in (b'charset="', b"charset='", b"charset="):
        at = head.find(marker)
        if at >= 0:
            name = head[at + len(marker):].split(b'"')[0].split(b"'")[0].split(b";")[0].split(b">")[0].strip()
            try:
                return clean(data.decode(name.decode("ascii", "ignore") or "utf-8"))
            except (LookupError, UnicodeDecodeError):
                break
    return decode(path, data)


# --------------------------------------------------------------------------- EPUB

_OPF = {"opf": "http://www.idpf.org/2007/opf", "c": "urn:oasis:names:tc:opendocument:xmlns:container"}


def _xml(path: Path, data: bytes, what: str):
    try:
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
    except etree.XMLSyntaxError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: EPUB {what} is damaged ({exc})") from exc


def _spine(path: Path, archive) -> list[str]:
    """Chapter files in reading order, from META-INF/container.xml -> the OPF's spine."""
    container = _xml(path, require_member(path, archive, "META-INF/container.xml", "EPUB"), "container")
    rootfile = container.find(".//c:rootfile", _OPF)
    if rootfile is None or not rootfile.get("full-path"):
        raise ExtractionError("corrupt_file", f"{path.name}: EPUB container names no package file")
    opf_path = rootfile.get("full-path")
    opf = _xml(path, require_member(path, archive, opf_path, "EPUB"), "package")
    items = {i.get("id"): i.get("href") for i in opf.iterfind(".//opf:manifest/opf:item", _OPF)}
    base = posixpath.dirname(opf_path)
    refs = [items.get(r.get("idref")) for r in opf.iterfind(".//opf:spine/opf:itemref", _OPF)]
    return [posixpath.normpath(posixpath.join(base, ref.split("#")[0])) for ref in refs if ref]


def extract_epub(path: Path, data: bytes) -> Parsed:
    """Chapters in spine order through the HTML walker; page = chapter number (EPUB has no pages).
    A chapter listed more than once in the spine (directly or through several manifest ids) is
    read once: a 1.5 KB EPUB repeating one chapter 2,000 times made 30,769 chunks (issue 16)."""
    archive = open_zip(path, data, "EPUB")
    if "META-INF/encryption.xml" in archive.namelist():
        raise ExtractionError("encrypted", f"{path.name}: EPUB is DRM-protected or encrypted (META-INF/encryption.xml)")
    chapters = list(dict.fromkeys(_spine(path, archive)))
    current_budget().check_count("chapters", len(chapters), "max_pages")
    drafts = Drafts()
    for number, member in enumerate(chapters, start=1):
        chapter = Drafts()
        html_drafts(path, _html_source(require_member(path, archive, member, "EPUB"), path), chapter, page=number)
        drafts.nest(Parsed(chapter.items), 0, page=number)
    return Parsed(drafts.items, len(chapters))
