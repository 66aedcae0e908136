"""Variety across the K candidates of a target, and the user's own examples as style anchors.

Each candidate is asked for by a different persona at a different difficulty (a fixed rotation
from the target id, so reruns ask the same things and hit the cache), and may be shown a couple
of the user's seed examples. Seed examples anchor style only: a candidate that copies one is
scored zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mbdg_assets.shared.text import content_words, jaccard

DEFAULT_PERSONAS = (
    "a new employee in their first week",
    "an experienced colleague checking a detail",
    "an auditor who wants exact rules and figures",
    "a customer asking in plain words",
)
DIFFICULTIES = ("easy", "medium", "hard")
DIFFICULTY_HINTS = {
    "easy": "one fact stated in a single sentence",
    "medium": "two facts from the passage put together",
    "hard": "reasoning over several facts, conditions or numbers in the passage",
}
COPY_THRESHOLD = 0.8  # word Jaccard at which a candidate is a copy of a seed example, not inspired by it
EXAMPLES_PER_PROMPT = 2


@dataclass(frozen=True)
class Variant:
    persona: str
    difficulty: str


def variant_for(target_id: str, rank: int, personas: tuple[str, ...] = DEFAULT_PERSONAS,
                difficulties: tuple[str, ...] = DIFFICULTIES) -> Variant:
    offset = int(target_id[:8], 16)
    return Variant(personas[(offset + rank) % len(personas)], difficulties[(offset // 7 + rank) % len(difficulties)])


def pick_examples(examples: tuple[dict, ...], target_id: str, count: int = EXAMPLES_PER_PROMPT) -> list[dict]:
    if not examples:
        return []
    start = int(target_id[:8], 16) % len(examples)
    return [examples[(start + i) % len(examples)] for i in range(min(count, len(examples)))]


def guidance(variant: Variant | None, examples: list[dict]) -> str:
    lines = []
    if variant:
        hint = DIFFICULTY_HINTS.get(variant.difficulty, variant.difficulty)
        lines.append(f"Write it as {variant.persona} would ask it; difficulty: {variant.difficulty} ({hint}).")
    if examples:
        lines.append("Examples of the style wanted (match their style and length; never copy them):")
        lines += [json.dumps(e, ensure_ascii=False) for e in examples]
    return "\n".join(lines)


def _words_of(record: dict) -> set[str]:
    return set(content_words(" ".join(str(v) for v in record.values() if isinstance(v, (str, int, float)))))


def copied_example(fields: dict, examples: tuple[dict, ...]) -> float:
    """The highest word overlap between a candidate and any seed example (0 when none given)."""
    words = _words_of(fields)
    return max((jaccard(words, _words_of(e)) for e in examples), default=0.0)
