"""The document model every phase reads: an extracted file as one text string and the typed
blocks laid end to end in it. Every later record (chunk, question, answer) points back at
character offsets in ``ExtractedDocument.text``, so the rule that matters is
``block.text == doc.text[block.start:block.end]`` for every block."""

from __future__ import annotations

import re
from dataclasses import dataclass

BLOCK_SEPARATOR = "\n\n"
BLOCK_KINDS = ("heading", "paragraph", "table", "code", "list")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True)
class Block:
    """One structural unit of a document; ``text`` is exactly ``doc.text[start:end]``."""

    kind: str
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    start: int
    end: int
    level: int = 0


@dataclass(frozen=True)
class ExtractedDocument:
    """A whole file as text plus blocks; ``doc_id`` is the sha256 of the file's bytes."""

    doc_id: str
    path: str
    format: str
    text: str
    blocks: tuple[Block, ...]
    pages: int | None
    title: str
    parser: str = "native"  # which parser read it: native, docling, libreoffice+native, "docling (after native failed)"


def heading_title(block: Block) -> str:
    """A heading block's title without markup ('## B' -> 'B', 'Intro\\n=====' -> 'Intro')."""
    first = block.text.split("\n", 1)[0]
    match = ATX_HEADING.match(first)
    return (match.group(2) if match else first).strip()
