"""Lexical grounding: which sentences of the source support an answer, and how much of it.

This is the evidence both the generation reward ("answer found in the source") and the
validator's grounding gate use. It is deliberately strict on numbers: a figure in the answer
that the supporting text does not contain is the commonest way a fluent answer is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import content_stems, numbers

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Grounding:
    score: float                                   # 0..1, share of answer content words supported
    spans: list[tuple[int, int]] = field(default_factory=list)  # char offsets into the source
    missing_numbers: list[str] = field(default_factory=list)
    unsupported_words: list[str] = field(default_factory=list)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line, whitespace trimmed."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _pick_supporting(answer_words: set[str], sentences: list[tuple[int, int, set[str]]], max_spans: int):
    """Greedy cover: each step takes the sentence adding the most still-unsupported words."""
    chosen, covered = [], set()
    for _ in range(max_spans):
        best = max(sentences, key=lambda s: len((s[2] & answer_words) - covered), default=None)
        if best is None or not (best[2] & answer_words) - covered:
            break
        chosen.append((best[0], best[1]))
        covered |= best[2] & answer_words
    return sorted(chosen), covered


def lexical_grounding(answer: str, source: str, max_spans: int = 5, number_penalty_cap: float = 0.5) -> Grounding:
    """Score = share of the answer's content words found in its supporting sentences; capped at
    `number_penalty_cap` when a number in the answer is absent from those sentences."""
    answer_words = set(content_stems(answer))
    if not answer_words:
        return Grounding(0.0)
    sentences = [(s, e, set(content_stems(source[s:e]))) for s, e in sentence_spans(source)]
    spans, covered = _pick_supporting(answer_words, sentences, max_spans)
    score = len(covered) / len(answer_words)
    supported_text = " ".join(source[s:e] for s, e in spans)
    missing = sorted(numbers(answer) - numbers(supported_text))
    if missing:
        score = min(score, number_penalty_cap)
    return Grounding(round(score, 4), spans, missing, sorted(answer_words - covered))
