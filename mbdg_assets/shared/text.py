"""Small text measures shared by rewards and validators (one definition of 'word' everywhere)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does for from had has have he her
    his how i if in into is it its may me might more most must my no not of on or our she should so
    such than that the their them then there these they this those to was we were what when where
    which while who whom why will with would you your about above after again all also any because
    before between both each few further here just only other own same some very""".split()
)


def words(text: str) -> list[str]:
    """Lower-cased word tokens; numbers like 3.5 or 1,000 stay one token."""
    return [w.lower() for w in _WORD.findall(unicodedata.normalize("NFKC", text))]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS]


_SUFFIXES = ("ing", "ed", "es", "s")


@lru_cache(maxsize=1 << 16)  # grounding stems every window of a chunk for every record: the same few thousand words
def stem(word: str) -> str:
    """A deliberately light suffix strip (charges/charged/charging -> charg) so that grounding
    does not call an answer unsupported for inflecting a source word; numbers stay as they are."""
    if word[:1].isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def normalized_text(text: str) -> str:
    """Case, punctuation and whitespace folded: what 'the same text' means for exact dedup."""
    return " ".join(words(text))


def normalized_hash(*parts: str) -> str:
    joined = "\x1f".join(normalized_text(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def repetition_ratio(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one: small models fall into loops, and a
    looping answer has a high ratio (0 for fresh text)."""
    tokens = words(text)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def stable_id(*parts: object, length: int = 32) -> str:
    """A content-derived id: the same inputs give the same id in every run."""
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:length]


def string_values(value) -> list[str]:
    """Every string inside a JSON value, dict keys in sorted order: a record's or an evaluation
    item's text, whatever its field names and nesting."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k in sorted(value) for s in string_values(value[k])]
    if isinstance(value, list):
        return [s for v in value for s in string_values(v)]
    return []
