"""Markdown (our own reader: headings, fenced code, pipe tables, lists, paragraphs, CommonMark-like)
and plain text (paragraphs; underlined or ALL-CAPS lines as headings)."""

from __future__ import annotations

import re
from pathlib import Path

from mbdg_assets.extract.document import ATX_HEADING

from .base import Drafts, Parsed, decode


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
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
    return bool(_FENCE.match(line) or ATX_HEADING.match(line) or _RULE.match(line)) or _is_table_start(
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


def extract_markdown(path: Path, data: bytes) -> Parsed:
    """ATX headings set the heading path; code, tables and lists stay whole; rules are dropped."""
    lines = decode(path, data).split("\n")
    drafts, i = Drafts(), 0
    while i < len(lines):
        line = lines[i]
        heading = ATX_HEADING.match(line)
        if not line.strip() or _RULE.match(line):
            i += 1
        elif heading:
            drafts.heading(line, heading.group(2), len(heading.group(1)))
            i += 1
        else:
            read = _md_fence(lines, i) or _md_table(lines, i) or _md_list(lines, i)
            kind, text, i = read or _md_paragraph(lines, i)
            drafts.add(kind, text)
    return Parsed(drafts.items)


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


def extract_text(path: Path, data: bytes) -> Parsed:
    """Paragraphs split on blank lines; ALL-CAPS lines and ===/--- underlined lines are headings."""
    drafts = Drafts()
    for para in re.split(r"\n[ \t]*\n", decode(path, data)):
        lines = para.strip("\n").split("\n")
        if len(lines) >= 2 and lines[0].strip() and _UNDERLINE.match(lines[1]):
            level = 1 if "=" in lines[1] else 2
            drafts.heading("\n".join(lines[:2]), lines[0], level)
            drafts.add("paragraph", "\n".join(lines[2:]))
        elif _is_caps_heading(lines):
            drafts.heading(lines[0], lines[0], 1)
        else:
            drafts.add("paragraph", para)
    return Parsed(drafts.items)
