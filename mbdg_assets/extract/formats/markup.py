"""reStructuredText through docutils' own parser, RTF through striprtf.

docutils is the reference RST parser (public domain / BSD), so sections, lists, literal blocks
and tables come out as the author meant them. striprtf (BSD) only strips RTF control words: RTF
keeps text and paragraphs, not headings or tables, which no maintained offline library
recovers reliably.
"""

from __future__ import annotations

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


def extract_rtf(path: Path, data: bytes) -> Parsed:
    """Plain paragraphs (RTF's own paragraph marks); an unbalanced file is reported as truncated."""
    from striprtf.striprtf import rtf_to_text

    source = data.decode("latin-1")
    if source.count("{") - source.count("\\{") > source.count("}") - source.count("\\}"):
        raise ExtractionError("truncated", f"{path.name}: RTF is cut off (unclosed groups)")
    try:
        text = clean(rtf_to_text(source, errors="replace"))
    except Exception as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: RTF could not be read ({exc})") from exc
    drafts = Drafts()
    for paragraph in text.split("\n"):
        drafts.add("paragraph", " ".join(paragraph.split()))
    return Parsed(drafts.items)
