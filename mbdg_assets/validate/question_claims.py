"""Question-aware claims: a short answer is judged together with its question.

"h11.EndOfMessage" grounds perfectly on its own (the passage names it), yet as the answer to
"Which exception do you get if either side violates the protocol?" it is wrong: the passage puts
another identifier in that slot. A short answer (a number, a name, a phrase) states its fact only
together with the question, so the grounding stage checks the pair:

* a fill-in-the-blank question gets its blank filled and is checked as an ordinary claim;
* any other question is aligned with the source sentence by sentence: the answer's terms
  (numbers, identifiers, names, else its content words) must stand in a sentence that matches the
  question's focus (its content words, less the answer and the options it offers) about as well
  as the best-matching sentence of the source. When a sentence that lacks the answer but holds
  another term of the same kind (another number, identifier or name) matches the question
  clearly better, the answer fills a slot the passage fills differently.

Limits: no arithmetic or date comparison ("which came first" is judged by which sentence the
question's words point to, not by comparing the years), and a question worded with none of the
passage's words gives little to align on (the answer is then judged on its own terms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mbdg_assets.shared.text import content_stems, numbers, words
from mbdg_assets.validate.polarity import identifiers

_BLANK = re.compile(r"_{3,}")
_FILL_IN_LEAD = re.compile(r"^\s*(?:fill in the blanks?|complete the sentence)\s*[:.-]\s*", re.IGNORECASE)
_WH = frozenset("what which who whom whose when where why how many much does did do is are was were".split())
_OPTIONS = re.compile(r",?\s*([^,?]+?)\s+or\s+([^,?]+?)\s*\?\s*$")
SHORT_ANSWER_WORDS = 4        # an answer this short (or with fewer than 3 content words) is judged with its question
WRONG_SLOT_CAP = 0.3          # a short answer in a slot the passage fills with another term
CLEAR_MARGIN = 0.2            # question-focus coverage by which a competing sentence must win
POINTED_FOCUS = 0.5           # a question whose best sentence holds less of its focus points at none


@dataclass(frozen=True)
class SlotSupport:
    claim: str                        # the question and answer as one statement, for reasons
    span: tuple[int, int] | None      # the sentence holding the answer
    focus: float                      # share of the question's focus words in that sentence
    best_focus: float                 # the best share any sentence reaches
    score: float
    why: str = ""


def is_short(answer: str, question: str | None) -> bool:
    """A fragment ('4.0', 'h11.ProtocolError', 'OpenBLAS with pthreads') rather than a statement:
    it states a fact only together with its question."""
    if not (question and question.strip()):
        return False
    return len(words(answer)) <= SHORT_ANSWER_WORDS or len(content_stems(answer)) < 3


def filled_blank(question: str, answer: str) -> str | None:
    """'Fill in the blank: Keyword argument ___ specifies ...' + 'max_tries' -> the sentence."""
    if not _BLANK.search(question):
        return None
    body = _FILL_IN_LEAD.sub("", question.strip())
    return _BLANK.sub(answer.strip().rstrip("."), body, count=1)


_YES_NO_QUESTION = re.compile(r"^\s*(?:is|are|was|were|does|do|did|can|could|will|would|should|has|have|must|may)\b", re.IGNORECASE)
_YES_NO_ANSWER = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)


def yes_no_statement(question: str, answer: str) -> str | None:
    """'Is the exit status propagated?' + 'No, ...' -> 'not is the exit status propagated': the
    question's statement with the answer's polarity (word order does not matter to the polarity
    checks it feeds); None unless a yes/no question gets a yes/no answer."""
    reply = _YES_NO_ANSWER.match(answer)
    if not (reply and _YES_NO_QUESTION.match(question)):
        return None
    statement = question.strip().rstrip("?").strip()
    return ("not " + statement) if reply.group(1).lower() == "no" else statement


def _options(question: str) -> list[str]:
    """The alternatives a choice question offers ('..., 3.0 or 4.0?')."""
    match = _OPTIONS.search(question)
    return [match.group(1), match.group(2)] if match else []


@lru_cache(maxsize=4096)  # the sentences of a chunk recur for every record made from it
def _key_terms(text: str) -> tuple[set[str], set[str], set[str]]:
    """(numbers, identifiers, content stems) of a piece of text."""
    return frozenset(numbers(text)), frozenset(identifiers(text)), frozenset(content_stems(text))


def _holds(terms: tuple[set[str], set[str], set[str]], sentence: tuple[set[str], set[str], set[str]]) -> bool:
    """The sentence holds the answer: its every number and identifier, and most content words
    when it has neither."""
    nums, idents, stems = terms
    if nums or idents:
        return nums <= sentence[0] and idents <= sentence[1]
    return bool(stems) and len(stems & sentence[2]) / len(stems) >= 0.6


def _competes(answer: tuple[set[str], set[str], set[str]], sentence: tuple[set[str], set[str], set[str]]) -> bool:
    """The sentence offers another term of the answer's kind (a number for a number...)."""
    nums, idents, _ = answer
    return bool((nums and sentence[0] - nums) or (idents and sentence[1] - idents))


def slot_support(question: str, answer: str, source: str, sentences: list[tuple[int, int]]) -> SlotSupport:
    """How well the source puts `answer` in the slot `question` asks about (module docstring)."""
    claim = f"{question.strip()} {answer.strip()}"
    answer_terms = _key_terms(answer)
    option_stems = {s for o in _options(question) for s in content_stems(o)}
    focus = {s for s in content_stems(question) if s not in _WH} - option_stems - answer_terms[2]
    facts = [_key_terms(source[s:e]) for s, e in sentences]
    holding = [i for i, f in enumerate(facts) if _holds(answer_terms, f)]
    if not holding:
        return SlotSupport(claim, None, 0.0, 0.0, 0.0, "the answer is not in the source passage")
    if not focus:
        return SlotSupport(claim, sentences[holding[0]], 1.0, 1.0, 1.0)
    cover = [len(focus & f[2]) / len(focus) for f in facts]
    best_holding = max(holding, key=lambda i: cover[i])
    best_focus = max(cover)
    # a question that points at no sentence in particular ('What does the guide say about
    # Installation?') gives no slot to check: only a clearly better rival counts then
    score = 1.0 if best_focus < POINTED_FOCUS else min(1.0, cover[best_holding] / best_focus)
    rivals = [i for i, f in enumerate(facts) if i not in holding and _competes(answer_terms, f)
              and cover[i] >= cover[best_holding] + CLEAR_MARGIN]
    why = ""
    if rivals:
        score, why = min(score, WRONG_SLOT_CAP), "the passage puts another term in the slot the question asks about"
    return SlotSupport(claim, sentences[best_holding], round(cover[best_holding], 4), round(best_focus, 4), round(score, 4), why)
