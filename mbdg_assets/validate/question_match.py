"""Round-trip retrieval: is a question answered by its fact, the sentence the record gives as answer?

A weak model asked "write the question this sentence answers" often writes a fluent question about
a neighbouring sentence ("How many minutes does the communications lead need to respond ...?" for
"... posts a status update every 30 minutes ..."), or one so vague that any sentence of the
passage would do. Word lists tuned to a few documents cannot tell these apart from good questions;
the sentence embedding can: embed the question and every sentence of its passage, and require that
the fact is the sentence nearest to the question (by at least MIN_MATCH_MARGIN over the runner-up)
and near enough in absolute terms (MIN_MATCH_SIMILARITY), i.e. that a reader searching the passage
with the question would land on the fact. In a sentence of several clauses with a key value, the
question must also lean on the clause that holds the value. The same check picks the winner among a target's K
candidates (generate/candidates.py) and is a hard gate of the validator's schema stage
(validate/stages.py), so generation and validation agree on what a matching question is.

Limits: it judges topic, not logic. A question that matches its sentence but asks for something
the sentence does not say (a premise the passage lacks) can pass; the lexical rules of
generate/rewards.fact_focus (figures stated, words from nowhere) remain beside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mbdg_assets.generate.facts import fact_units
from mbdg_assets.shared.text import normalized_text

MIN_MATCH_SIMILARITY = 0.5   # cosine question-fact below this: the question is about something else or nothing
MIN_MATCH_MARGIN = 0.0       # the fact must be the question's nearest passage sentence (ties broken for the fact)

MIN_CLAUSE_WORDS = 4         # a shorter piece ("and 20 degrees") stays with its neighbour
_CLAUSE_CUT = re.compile(r"(\s*[;,]\s+|\s+(?:and|but)\s+)")

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Match:
    similarity: float        # cosine of the question and its fact
    margin: float            # that minus the best other sentence of the passage (the similarity when there is none)
    nearest: str             # the passage sentence nearest to the question
    why: str | None = None   # None when the question matches its fact

    @property
    def ok(self) -> bool:
        return self.why is None


@lru_cache(maxsize=256)
def _sentences(source: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(fact_units(source)))


def clauses(sentence: str) -> list[str]:
    """A sentence's clauses: cut at semicolons, commas and a joining "and" / "but", a piece of
    fewer than MIN_CLAUSE_WORDS words staying with the one before ("between 15 and 20")."""
    pieces = _CLAUSE_CUT.split(sentence)  # text, cut, text, cut, ...: a merged piece keeps its cut
    parts: list[str] = [pieces[0]]
    for cut, piece in zip(pieces[1::2], pieces[2::2]):
        if len(piece.split()) < MIN_CLAUSE_WORDS or len(parts[-1].split()) < MIN_CLAUSE_WORDS:
            parts[-1] += cut + piece
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]


def question_matches(questions: Sequence[str], fact: str, source: str, embed: Embed, span: str | None = None) -> list[Match]:
    """For each question, whether its nearest sentence of `source` (its passage, split as the
    fact planner splits it) is `fact`, and, when the fact has a key value `span` and several
    clauses, whether the clause the question leans on holds that value (a question about the
    espresso roast's 150 seconds does not ask for the filter roast's 90). A clause's weight is
    what the question's similarity to the fact loses when the clause is left out: embedding a
    clause alone fails on elliptical ones ("an espresso roast about 150 seconds after it").
    One embedding call."""
    if not questions:
        return []
    key = normalized_text(fact)
    others = [s for s in _sentences(source) if normalized_text(s) != key]
    parts = clauses(fact) if span else []
    parts = parts if len(parts) > 1 and any(span in p for p in parts) else []
    without = [" ".join(parts[:i] + parts[i + 1 :]) for i in range(len(parts))]
    vectors = embed(list(questions) + [fact] + others + without)
    n, m = len(questions), len(others)
    asked, fact_vector, other_vectors, without_vectors = vectors[:n], vectors[n], vectors[n + 1 : n + 1 + m], vectors[n + 1 + m :]
    matches = []
    for vector in asked:
        similarity = float(vector @ fact_vector)
        scores = other_vectors @ vector if m else np.zeros(0)
        best = int(np.argmax(scores)) if m else -1
        margin = similarity - (float(scores[best]) if best >= 0 else 0.0)
        nearest = others[best] if best >= 0 and margin < 0 else fact
        leaned_on = parts[int(np.argmax(similarity - without_vectors @ vector))] if parts else None
        matches.append(Match(round(similarity, 4), round(margin, 4), nearest,
                             _why(similarity, margin, nearest, leaned_on if leaned_on and span not in leaned_on else None)))
    return matches


def _why(similarity: float, margin: float, nearest: str, other_clause: str | None) -> str | None:
    if margin < MIN_MATCH_MARGIN:
        return f"the question is answered by another sentence of the passage ({nearest[:60]!r}, margin {margin:.2f})"
    if similarity < MIN_MATCH_SIMILARITY:
        return f"the question is too far from its answer (similarity {similarity:.2f} < {MIN_MATCH_SIMILARITY})"
    if other_clause:
        return f"the question asks about another part of its sentence ({other_clause[:60]!r}), not its answer"
    return None
