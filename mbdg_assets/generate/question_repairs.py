"""Small deterministic repairs of an extractive question's grammar, each applied only where it
cannot make a correct question wrong.

A small model that writes the question for a fact sentence copies the sentence's own words, and
with them its form: "How long does Roasted coffee rests for?" (from "Roasted coffee rests for 24
hours ..."), "What temperature is the roaster charges the drum at?", "How many kg of green coffee
is in a jute sacks?". The question is right; its grammar is not, and a person would not accept it.
Each rule below fixes one such slip and fires only on evidence from the fact or the passage that
the words were copied, so a question the model wrote correctly is never touched:

* verb agreement: an auxiliary (does / do / did, or a wrong "is") followed by the fact's opening
  clause copied word for word, subject then an -s verb then the next word: the verb takes its
  base form ("does roasted coffee rest for"), "is" becomes "does";
* a copied sentence-initial capital: a capitalised word inside the question that the passage
  capitalises only at the start of a sentence, and writes in lower case elsewhere (or that the
  model itself finds likelier in lower case: `prefer`), is lower-cased;
* "a" before a plural: "a jute sacks?" where the passage says "jute sacks" and never with an
  article loses the article.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_ARTICLES = frozenset({"a", "an", "the"})
_FIX_AUX = {"does": "does", "do": "do", "did": "did", "is": "does"}
# A word after the -s word that shows it is a noun (the subject's head), not the verb.
_NOT_AFTER_VERB = frozenset("is are was were has have had can will must may should would could do does did".split())
# Singular nouns that end in -s (a "a <noun>s" is then right): the common ones, besides -ss, -us, -is.
_SINGULAR_S = frozenset("news series species means lens gas bus plus bias canvas chaos status process "
                        "corps physics mathematics economics ethics politics atlas alias iris".split())
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*(?:[#>*\-+]+\s*|\d+[.)]\s*)?)$")

Prefer = Callable[[list[str]], list[float]]


def _tokens(text: str) -> list[re.Match]:
    return list(_TOKEN.finditer(text))


def _replace(text: str, match: re.Match, word: str) -> str:
    return text[: match.start()] + word + text[match.end():]


def base_form(verb: str) -> str | None:
    """The base form of a third-person -s verb ("rests" -> "rest", "carries" -> "carry",
    "washes" -> "wash", "has" -> "have"); None when the word does not look like one."""
    lower = verb.lower()
    if lower == "has":
        return "have"
    if len(lower) < 4 or not lower.endswith("s") or lower.endswith(("ss", "us", "is", "'s", "’s")):
        return None
    if lower.endswith("ies") and len(lower) > 4:
        return verb[:-3] + "y"
    if lower.endswith(("shes", "ches", "xes", "zzes", "sses", "oes")):
        return verb[:-2]
    return verb[:-1]


def _fix_agreement(question: str, fact: str) -> str:
    """does / do / did / is + the fact's opening clause copied word for word (subject, -s verb,
    the word after it): the verb in its base form, "is" as "does"."""
    fact_words = [m.group(0).lower() for m in _tokens(fact)]
    if fact_words[:1] and fact_words[0] in _ARTICLES:
        fact_words = fact_words[1:]
    tokens = _tokens(question)
    for i, aux in enumerate(tokens):
        if aux.group(0).lower() not in _FIX_AUX:
            continue
        start = i + 1 + (i + 1 < len(tokens) and tokens[i + 1].group(0).lower() in _ARTICLES)
        copied = [t.group(0).lower() for t in tokens[start:]]
        for j in range(1, min(len(copied) - 1, len(fact_words) - 1)):
            if copied[: j + 2] != fact_words[: j + 2]:
                break
            verb = tokens[start + j]
            base = base_form(verb.group(0))
            if base is None or copied[j + 1] in _NOT_AFTER_VERB:
                continue
            fixed = _replace(question, verb, base)
            word = _FIX_AUX[aux.group(0).lower()]
            word = word.capitalize() if aux.group(0)[0].isupper() else word
            return _replace(fixed, aux, word)
    return question


def _sentence_initial_only(word: str, passage: str) -> bool:
    """Whether every occurrence of `word` as written (capitalised) in the passage opens a sentence."""
    found = list(re.finditer(rf"\b{re.escape(word)}\b", passage))
    return bool(found) and all(_SENTENCE_START.search(passage[: m.start()]) for m in found)


def _fix_capitals(question: str, passage: str, prefer: Prefer | None) -> str:
    """A capitalised word inside the question that the passage capitalises only when it opens a
    sentence, lower-cased when the passage also writes it in lower case or `prefer` (the model's
    likelihood of each wording) finds the lower-cased question likelier."""
    for token in _tokens(question)[1:]:
        word = token.group(0)
        if not (word[:1].isupper() and word[1:].islower() and word.isalpha()) or not _sentence_initial_only(word, passage):
            continue
        lowered = _replace(question, token, word.lower())
        if re.search(rf"(?<![\w./\-]){re.escape(word.lower())}(?![\w./\-])", passage):  # not "python-dotenv"
            question = lowered
        elif prefer is not None:
            before, after = prefer([question, lowered])
            question = lowered if after > before else question
    return question


def _fix_plural_article(question: str, passage: str) -> str:
    """"a / an" + words the passage has, never after an article, ending in a plural noun that ends
    the phrase (a question mark or a small word follows): the article goes."""
    tokens = _tokens(question)
    lower = passage.lower()
    for i, article in enumerate(tokens[:-1]):
        if article.group(0).lower() not in ("a", "an"):
            continue
        for j in range(i + 1, min(i + 5, len(tokens))):
            phrase = question[tokens[i + 1].start(): tokens[j].end()]
            head = tokens[j].group(0).lower()
            after = question[tokens[j].end():].lstrip()
            ends_phrase = after.startswith("?") or (j + 1 < len(tokens) and tokens[j + 1].group(0).lower() in _ARTICLE_BREAK)
            if not re.search(rf"\b{re.escape(phrase.lower())}\b", lower):
                break
            if (ends_phrase and base_form(head) and head not in _SINGULAR_S and not head[:1].isdigit()
                    and not re.search(rf"\b(?:a|an|the|one|each|every)\s+{re.escape(phrase.lower())}\b", lower)):
                return question[: article.start()] + question[tokens[i + 1].start():]
    return question


_ARTICLE_BREAK = frozenset("of in on at for to from with by and or that which when".split())


def repair_question(question: str, fact: str, passage: str, prefer: Prefer | None = None) -> str:
    """The question with the repairs above applied (unchanged when none applies)."""
    repaired = _fix_agreement(question, fact)
    repaired = _fix_capitals(repaired, passage, prefer)
    return _fix_plural_article(repaired, passage)
