"""Answer-first targets: the facts of a passage worth asking about, chosen before any question.

A small model asked "write a question about this passage" restates headings or the passage. Asked
"write the question this fact answers", it has far less room to go wrong; and with the extractive
answer mode the fact itself (lightly cleaned) is the answer, grounded by construction.

A fact is one sentence, list item or table row of a chunk that carries information: a number
with a unit, a date or time, a named entity, a definition, a condition or a step. Each is scored
with the chunk's enrichment (its key phrases and entities, see enrich/annotate.py) and, where it
has one, keeps its key value (`span`: "5 minutes", "Leeds") with the value's kind and unit, so an
extractive multiple-choice question can key the value and draw its distractors from other values
of the same kind in the same document (`distractors`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from mbdg_assets.shared.text import content_words, normalized_text, numbers, stable_id, words

MIN_FACT_WORDS, MAX_FACT_WORDS = 6, 60   # shorter: a label or heading; longer: a paragraph, not a fact
MCQ_OPTIONS = 4

_UNIT_FAMILIES = {  # a distractor for "5 minutes" is another duration, never "10 cm"
    "duration": "seconds?|secs?|minutes?|mins?|hours?|hrs?|working days?|business days?|days?|weeks?|months?|years?",
    "mass": "kg|kilograms?|g|grams?|mg|tonnes?|lbs?|pounds",
    "length": "cm|mm|km|metres?|meters?|m|inches|feet|miles",
    "temperature": "°C|°F|degrees(?: Celsius| Fahrenheit)?",
    "volume": "litres?|liters?|l|ml",
    "data": "GB|MB|TB|KB",
    "percent": "percent|%",
}
_UNITS = "|".join(_UNIT_FAMILIES.values())
_FAMILY_OF = [(re.compile(rf"^(?:{units})$", re.I), family) for family, units in _UNIT_FAMILIES.items()]
_QUANTITY = re.compile(rf"(?<![\w.])(\d+(?:[.,]\d+)?)\s?({_UNITS})(?![\w])")
_TIME = re.compile(r"(?<![\w.:])\d{1,2}:\d{2}(?:\s?[ap]\.?m\.?)?(?![\w:])", re.I)
_MONEY = re.compile(r"[$€£]\s?\d[\d,.]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_CONDITION = re.compile(r"\b(if|when|unless|before|after|within|every|at least|at most|must|only|until|whose|over|"
                        r"below|above|between)\b", re.I)
_DEFINITION = re.compile(r"\b(is an?|are|means|refers to|is defined as|consists of)\b", re.I)
# A sentence that leans on the one before ("This module returns ...", "But, it's ..."): as an answer
# it does not say what it is about, so it is no fact to ask for.
_NOT_STANDALONE = re.compile(r"^(?:(?:but|and|so|also|however),?\s+)?(?:it|its|it's|this|that|these|those|they|their|"
                             r"he|she|his|her)\b", re.I)
_CODE = re.compile(r"^[`~]|>>> |(?:^|\s)\$ \w")  # a code block kept in the text, a shell or Python prompt: no fact
_LABEL = re.compile(r"\b[A-Za-z]{3,} \d+(?:\.\d+)?(?![\w.,]\d)")  # "severity 3", "step 4", "version 2.1"
_SPAN_PRIORITY = {"QUANTITY": 3.0, "MONEY": 3.0, "PERCENT": 3.0, "TIME": 2.5, "DATE": 2.5, "NAME": 1.5}


@dataclass(frozen=True)
class Fact:
    fact_id: str
    chunk_id: str
    text: str            # the sentence, item or row, lightly cleaned: the extractive answer
    span: str | None     # its key value ("5 minutes", "Leeds"), or None for a plain statement
    kind: str            # the span's kind (QUANTITY, TIME, DATE, MONEY, PERCENT, NAME, LABEL) or STATEMENT
    unit: str            # a QUANTITY's unit family ("duration", "mass"), else ""
    score: float         # how much information it carries (higher first)

    def as_metadata(self) -> dict:
        """What a record's generation metadata says about the fact its target aimed at."""
        return {"fact_id": self.fact_id, "fact": self.text, "fact_span": self.span, "fact_kind": self.kind}


def _unit_family(unit: str) -> str:
    return next((family for pattern, family in _FAMILY_OF if pattern.match(unit)), unit.lower())


def clean_fact(text: str) -> str:
    """One line, no list marker or Markdown emphasis, a table row's cells joined by '; '."""
    text = _LIST_ITEM.sub("", text.strip())
    if text.startswith("|") and text.endswith("|"):
        text = "; ".join(cell.strip() for cell in text.strip("|").split("|") if cell.strip())
    text = re.sub(r"[*_`]{1,2}([^*_`]+)[*_`]{1,2}", r"\1", text)
    return " ".join(text.split())


def fact_units(text: str) -> list[str]:
    """The sentences, list items and table rows of a chunk's text: wrapped lines of a paragraph
    are joined first (Markdown wraps sentences), headings and table rulers dropped."""
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        prose: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#") or re.fullmatch(r"[|:\- ]+", stripped):
                continue
            if _LIST_ITEM.match(line) or stripped.startswith("|"):
                units.append(stripped)
            elif prose or not units or not (_LIST_ITEM.match(lines[0]) or lines[0].strip().startswith("|")):
                prose.append(stripped)
            else:
                units[-1] += " " + stripped  # a wrapped list item
        if prose:
            units += _SENTENCE_END.split(" ".join(prose))
    return [clean_fact(u) for u in units if clean_fact(u)]


def _spans(sentence: str, chunk: dict) -> list[tuple[str, str, str]]:
    """(value, kind, unit) of every key value in the sentence, most informative kind first."""
    found = [(m.group(0), "QUANTITY", _unit_family(m.group(2))) for m in _QUANTITY.finditer(sentence)]
    found = [(v, "PERCENT", "") if u == "percent" else (v, k, u) for v, k, u in found]
    found += [(m.group(0), "TIME", "") for m in _TIME.finditer(sentence)]
    found += [(m.group(0), "MONEY", "") for m in _MONEY.finditer(sentence)]
    for entity, label in zip(chunk.get("entities") or (), chunk.get("entity_types") or ()):
        if label in ("NAME", "DATE") and entity in sentence and not any(entity in v for v, _k, _u in found):
            found.append((entity, label, ""))
    found = sorted(found, key=lambda s: (-_SPAN_PRIORITY.get(s[1], 0.0), sentence.find(s[0])))
    label = _LABEL.search(sentence)
    return found or ([(label.group(0), "LABEL", "")] if label else [])  # a numbered label only when nothing else


def _score(sentence: str, spans: list, chunk: dict) -> float:
    lower = sentence.lower()
    phrases = sum(1 for p in chunk.get("key_phrases") or () if p and p in lower)
    kinds = {k for _v, k, _u in spans}
    return (sum(_SPAN_PRIORITY.get(k, 0.0) for k in kinds) + min(phrases, 3)
            + (1.0 if _CONDITION.search(sentence) else 0.0) + (0.5 if _DEFINITION.search(sentence) else 0.0))


def _can_be_fact(sentence: str) -> bool:
    """Not a label or heading (too short), a paragraph (too long), a lead-in ("... as follows:"),
    code, or a sentence that leans on the one before."""
    return (MIN_FACT_WORDS <= len(words(sentence)) <= MAX_FACT_WORDS and not sentence.endswith(":")
            and not _CODE.search(sentence) and not _NOT_STANDALONE.match(sentence))


def chunk_facts(chunk: dict) -> list[Fact]:
    """A chunk's facts, best first (ties: document order)."""
    facts = []
    for position, sentence in enumerate(fact_units(chunk["text"])):
        if not _can_be_fact(sentence):
            continue
        spans = _spans(sentence, chunk)
        value, kind, unit = spans[0] if spans else (None, "STATEMENT", "")
        facts.append((position, Fact(stable_id(chunk["chunk_id"], normalized_text(sentence)), chunk["chunk_id"],
                                     sentence, value, kind, unit, round(_score(sentence, spans, chunk), 3))))
    return [f for _p, f in sorted(facts, key=lambda pf: (-pf[1].score, pf[0]))]


def document_facts(chunks: list[dict]) -> dict[str, list[Fact]]:
    """chunk id -> its facts, best first; a sentence that overlapping chunks share belongs to the
    first chunk only (a fact is asked about once)."""
    seen: set[str] = set()
    by_chunk: dict[str, list[Fact]] = {}
    for chunk in chunks:
        kept = []
        for fact in chunk_facts(chunk):
            key = normalized_text(fact.text)
            if key not in seen:
                seen.add(key)
                kept.append(fact)
        by_chunk[chunk["chunk_id"]] = kept
    return by_chunk


def _value_key(value: str) -> str:
    return normalized_text(value)


def value_pool(facts: list[Fact]) -> list[tuple[str, str, str]]:
    """(value, kind, unit) of every key value of the document's facts, in the facts' order: what
    distractors are drawn from. Made once per document: drawing it again for each fact made a
    document's planning quadratic in its facts (13.9 of 18 s of planning at 1,000 documents)."""
    return [found for fact in facts for found in _all_values(fact)]


def distractors(fact: Fact, pool: list[tuple[str, str, str]], n: int = MCQ_OPTIONS - 1) -> list[str]:
    """Up to `n` other values of the same kind from the document's `value_pool` (a number: one with
    a unit of the same family, a duration for a duration); never the fact's own value, never two
    equal values. Fewer than `n` means the fact cannot make a fair multiple-choice question."""
    if fact.span is None:
        return []
    chosen, keys = [], {_value_key(fact.span)}
    for value, kind, unit in pool:
        if (kind, unit) != (fact.kind, fact.unit):
            continue
        if _value_key(value) not in keys and not set(content_words(fact.span)) <= set(content_words(value)):
            keys.add(_value_key(value))
            chosen.append(value)
        if len(chosen) == n:
            break
    return chosen


def _all_values(fact: Fact) -> list[tuple[str, str, str]]:
    """Every key value of a fact's sentence (not only its span)."""
    found = _spans(fact.text, {})
    return found + ([(fact.span, fact.kind, fact.unit)] if fact.kind in ("NAME", "DATE") and fact.span not in
                    {v for v, _k, _u in found} else [])


def numbered_labels(text: str, word: str) -> list[str]:
    """The numbered labels of `text` named by `word` ("severity 1", "Severity 3" for "severity")."""
    return [m.group(0) for m in _LABEL.finditer(text) if m.group(0).split()[0].lower() == word.lower()]


def fact_figures(text: str, labels: bool = True) -> set[str]:
    """The numbers of a fact's values ("5" and "15" of "within 5 minutes ... within 15 minutes"):
    a question that states one of them answers itself or names another option. `labels`: with the
    number of a numbered label ("severity 3"), a sentence's value only when it has no other."""
    return {number for value, kind, _unit in _spans(text, {}) if labels or kind != "LABEL" for number in numbers(value)}


def mcq_options(fact: Fact, pool: list[tuple[str, str, str]], seed: str) -> tuple[dict[str, str], str] | None:
    """Options A-D (the fact's value at a position chosen by `seed`) and the key, or None when the
    document's `value_pool` has too few values of the fact's kind."""
    wrong = distractors(fact, pool)
    if fact.span is None or len(wrong) < MCQ_OPTIONS - 1:
        return None
    letters = "ABCD"
    key_at = int(stable_id(seed, fact.fact_id)[:8], 16) % MCQ_OPTIONS
    values = wrong[:key_at] + [fact.span] + wrong[key_at:]
    return dict(zip(letters, values)), letters[key_at]


def facts_in_order(chunks_in_order: list[dict], by_chunk: dict[str, list[Fact]]) -> list[tuple[dict, Fact]]:
    """(chunk, fact) pairs for coverage: the best fact of every chunk (chunks in the order given),
    then the second best of every chunk, and so on: every chunk is reached before any gets a
    second question."""
    queues = defaultdict(list)
    for chunk in chunks_in_order:
        queues[chunk["chunk_id"]] = list(by_chunk.get(chunk["chunk_id"], []))
    ordered = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        ordered += [(c, queues[c["chunk_id"]][depth]) for c in chunks_in_order if depth < len(queues[c["chunk_id"]])]
    return ordered
