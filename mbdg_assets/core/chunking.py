"""Cut an ExtractedDocument into chunks: structure first, size second.

A chunk is a span of ``doc.text`` (``chunk.text == doc.text[start:end]``), so every generated
record can be traced to exact source characters. Rules, in order:

* a heading starts a new chunk and is kept at its start (a run of headings stays together);
* chunks never span two top-level sections (the shallowest heading level in the document,
  level 1 when present);
* blocks accumulate until the next one would push the chunk past ``target_chars``;
* tables and code blocks are never split, even when they exceed ``max_chars`` (with the heading
  run in front of them, if any); nothing else exceeds ``max_chars``;
* a paragraph or list longer than ``max_chars`` is cut at sentence ends / newlines into pieces
  of about ``target_chars``;
* a tiny chunk (< target/4) merges into the previous chunk of the same section if the result
  stays within ``max_chars``;
* ``overlap_chars`` lets a chunk start up to that many characters before the previous chunk's
  end, snapped to a sentence or block start, within the same section and within ``max_chars``.

``heading_path`` is the path of the chunk's first non-heading block (headings included), so a
chunk '# Guide / ## Setup / text' is ('Guide', 'Setup'). Chunk ids hash the doc id, offsets and
content, so re-chunking the same file gives the same ids.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass

from mbdg_assets.core.extraction import Block, ExtractedDocument, heading_title

_SPLITTABLE = ("paragraph", "list")
# A sentence ends at . ? ! (plus closing quotes/brackets) followed by spaces, or at a newline.
_SENTENCE_END = re.compile(r"[.?!][\"')\]\u201d\u2019]*[ \t]+|\n")


@dataclass(frozen=True)
class Chunk:
    """A traceable span of a document, the unit that generation works on."""

    chunk_id: str
    doc_id: str
    path: str
    format: str
    position: int
    text: str
    heading_path: tuple[str, ...]
    pages: tuple[int, ...]
    start: int
    end: int
    content_hash: str


@dataclass
class _Span:
    """A chunk under construction: offsets plus what the merge rules need to know."""

    start: int
    end: int
    section: int
    headings_only: bool

    @property
    def size(self) -> int:
        return self.end - self.start


def _sections(blocks: tuple[Block, ...]) -> list[int]:
    """Top-level section number per block; a section opens at each shallowest-level heading."""
    levels = [b.level for b in blocks if b.kind == "heading" and b.level > 0]
    top = min(levels, default=1)
    numbers, current = [], 0
    for block in blocks:
        if block.kind == "heading" and block.level == top:
            current += 1
        numbers.append(current)
    return numbers


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_point(text: str, lo: int, end: int, target: int, max_chars: int) -> int:
    """Where to end the piece starting at ``lo``: last sentence end within target, else the first
    one within max_chars, else the last space before target, else a hard cut at target."""
    cuts = [m.end() for m in _SENTENCE_END.finditer(text, lo, min(end, lo + max_chars))]
    within = [c for c in cuts if lo < c <= lo + target and text[lo:c].strip()]
    if within:
        return within[-1]
    beyond = [c for c in cuts if c > lo + target and text[lo:c].strip()]
    if beyond:
        return beyond[0]
    space = text.rfind(" ", lo + 1, lo + target)
    return space if space > lo else lo + target


def _split_long(
    text: str, start: int, end: int, target: int, max_chars: int, lead: int = 0
) -> list[tuple[int, int]]:
    """Cut one over-long paragraph/list span into pieces of about ``target`` characters.

    ``lead`` is the length of the heading run the first piece will be glued to, so that
    heading + first piece still fits in ``max_chars``.
    """
    pieces, lo = [], start
    budget = max(target - lead, target // 4), max(max_chars - lead, target // 4)
    while end - lo > budget[0]:
        cut = _cut_point(text, lo, end, *budget)
        piece = _trim(text, lo, cut)
        if piece[1] > piece[0]:
            pieces.append(piece)
        lo = _trim(text, cut, end)[0]
        budget = target, max_chars
    if end > lo:
        pieces.append((lo, end))
    return pieces


def _units(doc: ExtractedDocument, target: int, max_chars: int) -> list[tuple[int, int, int, str]]:
    """(start, end, section, kind) pieces in order: whole blocks, or sentence-cut long prose."""
    units: list[tuple[int, int, int, str]] = []
    run_start = None  # start of the heading run right before this block, if any
    for block, section in zip(doc.blocks, _sections(doc.blocks)):
        lead = block.start - run_start if run_start is not None else 0
        if block.kind in _SPLITTABLE and block.end - block.start + lead > max_chars:
            for start, end in _split_long(doc.text, block.start, block.end, target, max_chars, lead):
                units.append((start, end, section, block.kind))
        else:
            units.append((block.start, block.end, section, block.kind))
        is_heading = block.kind == "heading"
        run_start = (block.start if run_start is None else run_start) if is_heading else None
    return units


def _group(units: list[tuple[int, int, int, str]], target: int) -> list[_Span]:
    """Greedy packing: join the current chunk unless a heading, a new section or target says no."""
    spans: list[_Span] = []
    for start, end, section, kind in units:
        current = spans[-1] if spans else None
        joins = current is not None and current.section == section and (
            current.headings_only or (kind != "heading" and end - current.start <= target)
        )
        if joins:
            current.end = end
            current.headings_only = current.headings_only and kind == "heading"
        else:
            spans.append(_Span(start, end, section, kind == "heading"))
    return spans


def _merge_tiny(spans: list[_Span], target: int, max_chars: int) -> list[_Span]:
    """Fold chunks under a quarter of target into the previous chunk of the same section."""
    merged: list[_Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and span.size < target / 4
            and previous.section == span.section
            and span.end - previous.start <= max_chars
        ):
            previous.end = span.end
            previous.headings_only = previous.headings_only and span.headings_only
        else:
            merged.append(span)
    return merged


def _snap_points(doc: ExtractedDocument) -> list[int]:
    """Sorted offsets where an overlap may start: block starts, and sentence starts inside prose
    (never inside a table or code block, which must only appear whole)."""
    points = {b.start for b in doc.blocks}
    for block in doc.blocks:
        if block.kind in _SPLITTABLE:
            for match in _SENTENCE_END.finditer(doc.text, block.start, block.end):
                start = _trim(doc.text, match.end(), block.end)[0]
                if start < block.end:
                    points.add(start)
    return sorted(points)


def _overlap_start(previous: _Span, span: _Span, overlap: int, max_chars: int, points: list[int]) -> int:
    """Earliest snap point inside the last ``overlap`` chars of the previous chunk, or no overlap."""
    if overlap <= 0 or previous.section != span.section:
        return span.start
    lowest = max(previous.end - overlap, previous.start + 1, span.end - max(max_chars, span.size))
    index = bisect.bisect_left(points, lowest)
    if index < len(points) and points[index] < min(previous.end, span.start):
        return points[index]
    return span.start


def _blocks_in(doc: ExtractedDocument, starts: list[int], start: int, end: int) -> list[Block]:
    """Blocks that overlap the span [start, end)."""
    index = max(bisect.bisect_right(starts, start) - 1, 0)
    found = []
    while index < len(doc.blocks) and doc.blocks[index].start < end:
        if doc.blocks[index].end > start:
            found.append(doc.blocks[index])
        index += 1
    return found


def _heading_path(blocks: list[Block]) -> tuple[str, ...]:
    """The section a chunk's content lives in: the path of its first non-heading block, so
    '# Guide / ## Part 0 / text' is ('Guide', 'Part 0'); a headings-only chunk uses its last heading."""
    for block in blocks:
        if block.kind != "heading":
            return block.heading_path
    last = blocks[-1]
    return last.heading_path + (heading_title(last),)


def _make_chunk(doc: ExtractedDocument, starts: list[int], position: int, start: int, core: _Span) -> Chunk:
    """Build the public Chunk; the heading path ignores the overlap, pages include it."""
    text = doc.text[start : core.end]
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    key = f"{doc.doc_id}:{start}:{core.end}:{content_hash}"
    chunk_id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    pages = tuple(sorted({b.page for b in _blocks_in(doc, starts, start, core.end) if b.page is not None}))
    heading_path = _heading_path(_blocks_in(doc, starts, core.start, core.end))
    return Chunk(
        chunk_id, doc.doc_id, doc.path, doc.format, position, text,
        heading_path, pages, start, core.end, content_hash,
    )


def _check_sizes(target_chars: int, max_chars: int, overlap_chars: int) -> None:
    if target_chars <= 0 or max_chars < target_chars or overlap_chars < 0:
        raise ValueError(
            f"need 0 < target_chars <= max_chars and overlap_chars >= 0, got "
            f"target={target_chars}, max={max_chars}, overlap={overlap_chars}"
        )


def chunk_document(
    doc: ExtractedDocument, target_chars: int = 1200, max_chars: int = 2400, overlap_chars: int = 0
) -> list[Chunk]:
    """Chunks of ``doc`` in reading order (see the module docstring for the rules)."""
    _check_sizes(target_chars, max_chars, overlap_chars)
    if not doc.blocks:
        return []
    units = _units(doc, target_chars, max_chars)
    spans = _merge_tiny(_group(units, target_chars), target_chars, max_chars)
    points = _snap_points(doc) if overlap_chars else []
    starts = [b.start for b in doc.blocks]
    chunks = []
    for position, span in enumerate(spans):
        previous = spans[position - 1] if position else None
        start = _overlap_start(previous, span, overlap_chars, max_chars, points) if previous else span.start
        chunks.append(_make_chunk(doc, starts, position, start, span))
    return chunks
