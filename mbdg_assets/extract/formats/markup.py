"""reStructuredText through docutils' own parser, RTF through striprtf, Org-mode and man pages by their line syntax.

docutils is the reference RST parser (public domain / BSD), so sections, lists, literal blocks
and tables come out as the author meant them. striprtf (BSD) only strips RTF control words: RTF
keeps text and paragraphs, not headings or tables, which no maintained offline library
recovers reliably.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, clean, decode, markdown_tables, squash

# --------------------------------------------------------------------------- RST


def _rst_list(node, depth: int = 0) -> list[str]:
    from docutils import nodes

    ordered = isinstance(node, nodes.enumerated_list)
    lines = []
    for number, item in enumerate(node.children, start=1):
        own = [c for c in item.children if not isinstance(c, (nodes.bullet_list, nodes.enumerated_list))]
        text = " ".join(" ".join(c.astext().split()) for c in own)
        lines.append("  " * depth + (f"{number}. " if ordered else "- ") + text)
        for child in item.children:
            if isinstance(child, (nodes.bullet_list, nodes.enumerated_list)):
                lines.extend(_rst_list(child, depth + 1))
    return lines


def _rst_table(node) -> list[str]:
    from docutils import nodes

    rows = [[" ".join(entry.astext().split()) for entry in row.children if isinstance(entry, nodes.entry)]
            for row in node.findall(nodes.row)]
    return markdown_tables(rows)


def _rst_walk(drafts: Drafts, node, level: int) -> None:
    from docutils import nodes

    for child in node.children:
        if isinstance(child, nodes.section):
            title = child.next_node(nodes.title)
            text = " ".join(title.astext().split()) if title is not None else ""
            drafts.heading("#" * min(level, 6) + " " + text, text, level)
            _rst_walk(drafts, child, level + 1)
        elif isinstance(child, (nodes.title, nodes.system_message, nodes.comment, nodes.substitution_definition, nodes.target)):
            continue
        elif isinstance(child, (nodes.bullet_list, nodes.enumerated_list)):
            drafts.add("list", "\n".join(_rst_list(child)))
        elif isinstance(child, (nodes.literal_block, nodes.doctest_block)):
            drafts.add("code", f"```\n{clean(child.astext())}\n```")
        elif isinstance(child, nodes.table):
            for table in _rst_table(child):
                drafts.add("table", table)
        elif isinstance(child, (nodes.Admonition, nodes.block_quote, nodes.compound, nodes.container, nodes.topic)):
            _rst_walk(drafts, child, level)
        else:
            drafts.add("paragraph", squash(child.astext()))


def extract_rst(path: Path, data: bytes) -> Parsed:
    """Sections nest by depth (the first adornment style is level 1); lists, literal blocks and
    grid/simple tables are kept. Directives that include files or raw HTML are switched off."""
    from docutils.core import publish_doctree

    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False,
                "doctitle_xform": False, "warning_stream": False, "input_encoding": "unicode"}
    try:
        tree = publish_doctree(decode(path, data), settings_overrides=settings)
    except Exception as exc:  # docutils raises its own SystemMessage and plain errors alike
        raise ExtractionError("corrupt_file", f"{path.name}: reStructuredText could not be parsed ({exc})") from exc
    drafts = Drafts()
    _rst_walk(drafts, tree, 1)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- RTF


def check_rtf_magic(path: Path, head: bytes) -> None:
    if not head.lstrip().startswith(b"{\\rtf"):
        raise ExtractionError("corrupt_file", f"{path.name}: named .rtf but does not start with {{\\rtf")


_RTF_ESCAPE = re.compile(r"\\.", re.DOTALL)  # \\, \{, \} and control words' first letter: none opens or closes a group


def _unclosed_groups(source: str) -> bool:
    r"""More groups opened than closed, escapes left out as a whole: in ``C:\\}`` the backslash is
    escaped and the brace closes a group (the RTF specification itself is full of them)."""
    plain = _RTF_ESCAPE.sub("", source)
    return plain.count("{") > plain.count("}")


def extract_rtf(path: Path, data: bytes) -> Parsed:
    """Plain paragraphs (RTF's own paragraph marks); an unbalanced file is reported as truncated."""
    from striprtf.striprtf import rtf_to_text

    source = data.decode("latin-1")
    if _unclosed_groups(source):
        raise ExtractionError("truncated", f"{path.name}: RTF is cut off (unclosed groups)")
    try:
        text = clean(rtf_to_text(source, errors="replace"))
    except Exception as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: RTF could not be read ({exc})") from exc
    drafts = Drafts()
    for paragraph in text.split("\n"):
        drafts.add("paragraph", " ".join(paragraph.split()))
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- Org-mode

_ORG_HEADING = re.compile(r"^(\*+)\s+(?:(?:TODO|DONE|NEXT|WAITING|CANCELLED)\s+)?(?:\[#[A-Z]\]\s+)?(.*?)(?:\s+:[\w@#%:]+:)?\s*$")
_ORG_KEYWORD = re.compile(r"^#\+(\w+):\s*(.*)$")
_ORG_BLOCK = re.compile(r"^\s*#\+begin_(\w+)", re.IGNORECASE)
_ORG_LIST = re.compile(r"^\s*(?:[-+]|\d+[.)])\s+\S")
_ORG_LINK = re.compile(r"\[\[(?:[^\]]*)\]\[([^\]]*)\]\]|\[\[([^\]]*)\]\]")


def _org_inline(text: str) -> str:
    """Links show their description (or target); emphasis markers stay (they are readable)."""
    return _ORG_LINK.sub(lambda m: m.group(1) or m.group(2), text)


def _org_table(lines: list[str]) -> list[str]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if not re.match(r"^\s*\|[-+]", line)]
    return markdown_tables(rows)


def _org_block(lines: list[str], i: int) -> tuple[str, str, int]:
    """#+begin_src / example / quote ... #+end_X: code for src and example, else a paragraph."""
    kind = _ORG_BLOCK.match(lines[i]).group(1).lower()
    language = lines[i].split()[1] if kind == "src" and len(lines[i].split()) > 1 else ""
    j = i + 1
    while j < len(lines) and not re.match(rf"^\s*#\+end_{kind}\b", lines[j], re.IGNORECASE):
        j += 1
    body = "\n".join(lines[i + 1 : j])
    if kind in ("src", "example"):
        return "code", f"```{language}\n{body}\n```", j + 1
    return "paragraph", body, j + 1


def extract_org(path: Path, data: bytes) -> Parsed:
    """Org-mode: '*' headings nest by their stars (TODO keywords, priorities and tags dropped from
    the title), #+TITLE is the document title, lists, '|' tables and src/example blocks are kept;
    property drawers and comments are skipped."""
    lines = decode(path, data).split("\n")
    drafts, i, paragraph = Drafts(), 0, []

    def flush() -> None:
        drafts.add("paragraph", _org_inline("\n".join(paragraph)))
        paragraph.clear()

    while i < len(lines):
        line = lines[i]
        heading, keyword = _ORG_HEADING.match(line), _ORG_KEYWORD.match(line)
        if heading or keyword or _ORG_BLOCK.match(line) or not line.strip() or line.lstrip().startswith(("|", "# ", ":")):
            flush()
        if heading:
            title = _org_inline(heading.group(2))
            drafts.heading(line, title, len(heading.group(1)))
            i += 1
        elif keyword:
            if keyword.group(1).lower() == "title":
                drafts.heading(line, keyword.group(2), 1)
            i += 1
        elif _ORG_BLOCK.match(line):
            kind, text, i = _org_block(lines, i)
            drafts.add(kind, text)
        elif line.strip().startswith(":") and line.strip().endswith(":"):  # a drawer: skip to :END:
            j = i + 1
            while j < len(lines) and lines[j].strip().lower() != ":end:":
                j += 1
            i = j + 1 if line.strip().lower() != ":end:" else i + 1
        elif line.lstrip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            for table in _org_table(lines[i:j]):
                drafts.add("table", table)
            i = j
        elif _ORG_LIST.match(line) and not paragraph:
            j = i + 1
            while j < len(lines) and lines[j].strip() and (_ORG_LIST.match(lines[j]) or lines[j].startswith((" ", "\t"))):
                j += 1
            drafts.add("list", _org_inline("\n".join(lines[i:j])))
            i = j
        else:
            if line.strip() and not line.lstrip().startswith("# "):
                paragraph.append(line)
            i += 1
    flush()
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- man pages (troff)

_TROFF_ESCAPES = [(re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\\((em|en)"), "-"),
                  (re.compile(r"\\\(bu"), "*"), (re.compile(r"\\\((lq|rq|dq)"), '"'), (re.compile(r"\\\((oq|cq|aq)"), "'"),
                  (re.compile(r"\\\(co"), "(c)"), (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""), (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),
                  (re.compile(r"\\s[+-]?\d"), ""), (re.compile(r"\\[&|^%c:]"), ""), (re.compile(r"\\ "), " "),
                  (re.compile(r"\\\*(?:\(..|\[[^\]]*\]|.)"), ""), (re.compile(r"\\n(?:\(..|\[[^\]]*\]|.)"), "")]
_TROFF_TEXT_MACROS = {"B", "I", "BI", "BR", "IB", "IR", "RB", "RI", "SM", "SB"}
_TROFF_BREAKS = {"PP", "LP", "P", "IP", "TP", "HP", "sp", "br", "RS", "RE", "TQ", "nf", "fi", "EX", "EE"}


def _troff_text(text: str) -> str:
    for pattern, replacement in _TROFF_ESCAPES:
        text = pattern.sub(replacement, text)
    return text


def _macro_args(rest: str) -> list[str]:
    """A macro's arguments, quoted ones unquoted."""
    return [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', rest)]


def extract_man(path: Path, data: bytes) -> Parsed:
    """A man page (troff with the man macros): .TH names the page, .SH / .SS are headings, text
    macros (.B, .I, .BR, ...) keep their words, paragraph macros (.PP, .IP, .TP) break paragraphs,
    font and character escapes are resolved; other requests and comments are dropped."""
    drafts, paragraph = Drafts(), []

    def flush() -> None:
        drafts.add("paragraph", " ".join(paragraph))
        paragraph.clear()

    for line in decode(path, data).split("\n"):
        if line.startswith((".\\\"", "'\\\"", '.\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            macro, _, rest = line[1:].strip().partition(" ")
            if macro == "TH":
                flush()
                args = _macro_args(rest) or [path.stem]
                title = f"{args[0]}({args[1]})" if len(args) > 1 else args[0]
                drafts.heading(f"# {title}", title, 1)
            elif macro in ("SH", "SS"):
                flush()
                title = _troff_text(" ".join(_macro_args(rest))).strip()
                level = 2 if macro == "SH" else 3
                drafts.heading("#" * level + " " + title, title, level)
            elif macro in _TROFF_TEXT_MACROS:
                glue = " " if macro in ("B", "I", "SM", "SB") else ""  # .BR and friends alternate fonts, no spaces
                paragraph.append(_troff_text(glue.join(_macro_args(rest))))
            elif macro in _TROFF_BREAKS:
                flush()
                if macro == "IP" and rest.strip():  # .IP tag indent: the tag is text, the indent is not
                    paragraph.append(_troff_text(_macro_args(rest)[0]))
            continue
        text = _troff_text(line).strip()
        if text and text.strip("\\{}"):  # bare conditional braces are troff syntax, not text
            paragraph.append(text)
    flush()
    return Parsed(drafts.items)
