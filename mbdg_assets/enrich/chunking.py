"""Cut an ExtractedDocument into chunks: structure first, a token budget second.

A chunk is a span of ``doc.text`` (``chunk.text == doc.text[start:end]``), so every generated
record can be traced to exact source characters. Sizes are tokens of the embedding model's
tokenizer (all-MiniLM-L6-v2 by default: it reads at most 256 word pieces, so the default target
of 200 and hard max of 400 keep most chunks inside what the embedder sees). Rules, in order:

* a heading starts a new chunk and is kept at its start (a run of headings stays together);
* chunks never span two top-level sections (the shallowest heading level in the document,
  level 1 when present);
* blocks accumulate until the next one would push the chunk past ``target_tokens``;
* a paragraph or list longer than ``max_tokens`` is cut at sentence ends / newlines into pieces
  of about ``target_tokens`` (at spaces when one sentence alone is too long, inside a word when
  a word alone is);
* tables and code blocks stay whole up to ``WHOLE_FACTOR`` x ``max_tokens`` (with the heading
  run in front of them, if any), so an ordinary table or listing is never cut; a longer one is
  cut like prose but between rows / lines (a row or line alone over ``max_tokens`` at spaces),
  never inside a row. No block goes to the tokenizer whole: a CSV row of millions of cells or a
  megabyte of code costs memory in proportion to one piece (issue 16: one such block took
  hundreds of MB in the tokenizer). A block or line of more than ``COUNT_WHOLE_CHARS``
  characters is never counted whole, whatever its kind;
* a document of more than ``max_chunks`` chunks is an ExtractionError('too_many_parts'): each
  chunk may become several model calls;
* a tiny chunk (< target/4) merges into the previous chunk of the same section if the result
  stays within ``max_tokens``;
* ``overlap_tokens`` lets a chunk start up to that many tokens before the previous chunk's
  end, snapped to a sentence or block start, within the same section and within ``max_tokens``.

Token counts come from a ``count_tokens(text) -> int`` callable (``token_counter()`` gives the
embedding model's; tests pass a word counter). Each block or sentence is counted once and the
counts are added: WordPiece splits at whitespace before anything else, so a sum over pieces cut
at whitespace equals the count of the whole (separators count nothing). That keeps chunking to
one tokenizer pass over the text.

``heading_path`` is the path of the chunk's first non-heading block (headings included), so a
chunk '# Guide / ## Setup / text' is ('Guide', 'Setup'). Chunk ids hash the doc id, offsets and
content, so re-chunking the same file with the same settings gives the same ids.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL, resolve_model_path
from mbdg_assets.extract.document import Block, ExtractedDocument, heading_title
from mbdg_assets.extract.limits import Budget, current_budget

# Bump when a change to this module can change chunk boundaries, heading paths or pages for the
# same extracted text: incremental runs compare it (with the settings) before skipping a document.
CHUNKER_VERSION = "3"  # 3: tables and code blocks over 4 x max_tokens are cut between rows / lines
DEFAULT_TARGET_TOKENS = 200
DEFAULT_MAX_TOKENS = 400

CountTokens = Callable[[str], int]

_SPLITTABLE = ("paragraph", "list")
COUNT_WHOLE_CHARS = 50_000  # a longer block or line is cut before the tokenizer sees it
WHOLE_FACTOR = 4  # tables and code blocks up to this many times max_tokens stay whole
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


@dataclass(frozen=True)
class _Unit:
    """A piece the grouping never cuts: a whole block, or a sentence-cut piece of long prose."""

    start: int
    end: int
    section: int
    kind: str
    tokens: int


@dataclass
class _Span:
    """A chunk under construction: offsets, token count, and what the merge rules need."""

    start: int
    end: int
    section: int
    headings_only: bool
    tokens: int


# --------------------------------------------------------------------------- token counting


@cache
def _tokenizer(model_dir: str):
    """The fast tokenizer of a sentence-transformers folder, with the model's truncation and
    padding switched off (tokenizer.json ships with both at 128, which would cap every count)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def token_counter(model: str = DEFAULT_EMBEDDING_MODEL) -> CountTokens:
    """count_tokens for the embedding model's word pieces (no [CLS]/[SEP]); loads in ~50 ms.

    A model folder without a tokenizer.json is an error that names the folder, rather than a
    silent fall-back to another model's counts."""
    folder = Path(resolve_model_path(model))
    if not (folder / "tokenizer.json").is_file():
        raise ValueError(f"embedding model {model!r}: no tokenizer.json in {folder}, so chunk sizes cannot be counted")
    tokenizer = _tokenizer(str(folder))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def count_words(text: str) -> int:
    """Whitespace-separated words: a cheap stand-in for a tokenizer (tests, rough budgets)."""
    return len(text.split())


# --------------------------------------------------------------------------- units


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


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Trimmed sentence / line spans of text[start:end], in order, covering every non-space char."""
    spans, lo = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        piece = _trim(text, lo, match.end())
        if piece[1] > piece[0]:
            spans.append(piece)
        lo = match.end()
    piece = _trim(text, lo, end)
    if piece[1] > piece[0]:
        spans.append(piece)
    return spans


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Trimmed non-blank line spans of text[start:end]: the rows of a table, the lines of code."""
    spans, lo = [], start
    while lo < end:
        newline = text.find("\n", lo, end)
        hi = end if newline < 0 else newline
        piece = _trim(text, lo, hi)
        if piece[1] > piece[0]:
            spans.append(piece)
        lo = hi + 1
    return spans


def _cut_words(text: str, start: int, end: int, budget: int, count: CountTokens) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence at spaces into pieces of at most ``budget`` tokens: a binary
    search over the spaces of a window of 16 characters per token (no word piece is that long),
    so O(log n) tokenizer calls per piece; a window without spaces (a CSV row of commas, a
    base64 line) is searched character by character instead."""
    pieces, lo = [], start
    while lo < end:
        window = min(end, lo + 16 * budget)
        if window == end and (whole := count(text[lo:end])) <= budget:
            pieces.append((lo, end, whole))
            break
        cuts: list[int] | range = [lo + m.start() for m in re.finditer(r"\s+", text[lo:window]) if m.start() > 0]
        if not cuts:
            cuts = range(lo + 1, window + 1)
        low, high, best = 0, len(cuts) - 1, -1
        while low <= high:
            middle = (low + high) // 2
            if count(text[lo:cuts[middle]]) <= budget:
                best, low = middle, middle + 1
            else:
                high = middle - 1
        cut = cuts[best] if best >= 0 else (cuts[0] if cuts else window)
        pieces.append((lo, cut, count(text[lo:cut])))
        lo = _trim(text, cut, end)[0]
    return pieces


def _split_long(text: str, start: int, end: int, target: int, max_tokens: int, count: CountTokens,
                lead: int = 0, kind: str = "paragraph") -> list[tuple[int, int, int]]:
    """Cut one over-long block into (start, end, tokens) pieces of about ``target`` tokens at
    sentence ends (prose) or line ends (tables, code); ``lead`` is the heading run the first
    piece will be glued to."""
    sentences: list[tuple[int, int, int]] = []
    for lo, hi in (_sentences if kind in _SPLITTABLE else _lines)(text, start, end):
        tokens = count(text[lo:hi]) if hi - lo <= COUNT_WHOLE_CHARS else max_tokens + 1
        sentences += _cut_words(text, lo, hi, target, count) if tokens > max_tokens else [(lo, hi, tokens)]
    pieces: list[list[int]] = []
    budget = max(target - lead, target // 4)
    for lo, hi, tokens in sentences:
        if pieces and pieces[-1][2] + tokens <= budget:
            pieces[-1][1], pieces[-1][2] = hi, pieces[-1][2] + tokens
        else:
            if pieces:
                budget = target
            pieces.append([lo, hi, tokens])
    return [(lo, hi, tokens) for lo, hi, tokens in pieces]


def _units(doc: ExtractedDocument, target: int, max_tokens: int, count: CountTokens) -> list[_Unit]:
    """Units in order: whole blocks, or pieces of over-long ones (see the module docstring). A
    heading too long to count (only a hostile file has one) is cut like prose, and its pieces
    are prose units, since heading units glue to what follows without a size check."""
    units: list[_Unit] = []
    lead = 0  # tokens of the heading run right before this block, if any
    budget = current_budget()
    for block, section in zip(doc.blocks, _sections(doc.blocks)):
        budget.check_time()
        tokens = count(block.text) if len(block.text) <= COUNT_WHOLE_CHARS else None
        too_long = block.kind in _SPLITTABLE and tokens is not None and tokens + lead > max_tokens
        if tokens is None or too_long or (block.kind in ("table", "code") and tokens > WHOLE_FACTOR * max_tokens):
            kind = "paragraph" if block.kind == "heading" else block.kind
            for start, end, piece in _split_long(doc.text, block.start, block.end, target, max_tokens, count, lead, kind):
                units.append(_Unit(start, end, section, kind, piece))
            tokens = max_tokens if tokens is None else tokens
        else:
            units.append(_Unit(block.start, block.end, section, block.kind, tokens))
        lead = lead + tokens if block.kind == "heading" else 0
    return units


# --------------------------------------------------------------------------- grouping


def _group(units: list[_Unit], target: int) -> list[_Span]:
    """Greedy packing: join the current chunk unless a heading, a new section or target says no."""
    spans: list[_Span] = []
    for unit in units:
        current = spans[-1] if spans else None
        joins = current is not None and current.section == unit.section and (
            current.headings_only or (unit.kind != "heading" and current.tokens + unit.tokens <= target)
        )
        if joins:
            current.end, current.tokens = unit.end, current.tokens + unit.tokens
            current.headings_only = current.headings_only and unit.kind == "heading"
        else:
            spans.append(_Span(unit.start, unit.end, unit.section, unit.kind == "heading", unit.tokens))
    return spans


def _merge_tiny(spans: list[_Span], target: int, max_tokens: int) -> list[_Span]:
    """Fold chunks under a quarter of target into the previous chunk of the same section."""
    merged: list[_Span] = []
    for span in spans:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and span.tokens < target / 4
            and previous.section == span.section
            and previous.tokens + span.tokens <= max_tokens
        ):
            previous.end, previous.tokens = span.end, previous.tokens + span.tokens
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
            points.update(start for start, _ in _sentences(doc.text, block.start, block.end))
    return sorted(points)


def _overlap_start(text: str, previous: _Span, span: _Span, overlap: int, max_tokens: int, points: list[int],
                   count: CountTokens) -> int:
    """Earliest snap point inside the previous chunk whose tail up to the previous chunk's end
    fits ``overlap`` tokens and keeps this chunk within ``max_tokens``; else no overlap.
    Tail sizes only grow as the start moves back, so a binary search finds it."""
    limit = min(overlap, max_tokens - span.tokens)
    if limit <= 0 or previous.section != span.section:
        return span.start
    low_index = bisect.bisect_right(points, previous.start)
    high_index = bisect.bisect_left(points, min(previous.end, span.start)) - 1
    best = span.start
    while low_index <= high_index:
        middle = (low_index + high_index) // 2
        if count(text[points[middle]:previous.end]) <= limit:
            best, high_index = points[middle], middle - 1
        else:
            low_index = middle + 1
    return best


# --------------------------------------------------------------------------- chunks


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


def _check_sizes(target_tokens: int, max_tokens: int, overlap_tokens: int) -> None:
    if target_tokens <= 0 or max_tokens < target_tokens or overlap_tokens < 0:
        raise ValueError(
            f"need 0 < target_tokens <= max_tokens and overlap_tokens >= 0, got "
            f"target={target_tokens}, max={max_tokens}, overlap={overlap_tokens}"
        )


def chunking_key(target_tokens: int, max_tokens: int, overlap_tokens: int, tokenizer: str, embedder: str = "") -> str:
    """What chunk boundaries and vectors depend on besides the text: stored with the chunks, so a
    change of chunker version, budget, tokenizer or embedding model (`embedder`, a server's
    identity; the local model is the tokenizer's) re-chunks and re-embeds an unchanged document."""
    key = f"chunker={CHUNKER_VERSION};target={target_tokens};max={max_tokens};overlap={overlap_tokens};tokenizer={tokenizer}"
    return key + (f";embedder={embedder}" if embedder else "")


def chunk_document(
    doc: ExtractedDocument,
    target_tokens: int = DEFAULT_TARGET_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = 0,
    count_tokens: CountTokens | None = None,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Chunks of ``doc`` in reading order (see the module docstring for the rules).
    ``count_tokens`` defaults to the all-MiniLM-L6-v2 tokenizer (``token_counter()``);
    ``max_chunks`` to the current extraction budget's (``extract/limits.py``)."""
    _check_sizes(target_tokens, max_tokens, overlap_tokens)
    if not doc.blocks:
        return []
    count = count_tokens or token_counter()
    units = _units(doc, target_tokens, max_tokens, count)
    spans = _merge_tiny(_group(units, target_tokens), target_tokens, max_tokens)
    limits = current_budget().limits
    limits = limits if max_chunks is None else limits.with_values(max_chunks=max_chunks)
    Budget(Path(doc.path).name, limits).check_count("chunks", len(spans), "max_chunks")
    points = _snap_points(doc) if overlap_tokens else []
    starts = [b.start for b in doc.blocks]
    chunks = []
    for position, span in enumerate(spans):
        start = span.start
        if position and overlap_tokens:
            start = _overlap_start(doc.text, spans[position - 1], span, overlap_tokens, max_tokens, points, count)
        chunks.append(_make_chunk(doc, starts, position, start, span))
    return chunks
