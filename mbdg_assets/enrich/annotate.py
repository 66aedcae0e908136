"""Per-chunk enrichment without models: key phrases, named entities, document type.

Why no library: YAKE (the usual offline key-phrase choice) measured 31 ms per 1,200-character
chunk here and is LGPL; spaCy's English models are not published on PyPI by their authors (only
re-uploads by third parties), and GLiNER / transformer NER need model-hub weights. So:

* key phrases: RAKE (Rose et al. 2010) - candidate phrases are runs of content words between
  stop words and punctuation, scored by word degree / frequency. < 1 ms per chunk. Cost: it
  favours long capitalised runs and knows nothing of meaning.
* entities: rules - capitalised multi-word names, capitalised words not at a sentence start,
  e-mail addresses, URLs, dates, money, percentages, quantities with units. < 1 ms per chunk.
  Cost: no PERSON / ORG / PLACE distinction for names (label NAME), misses lower-case names,
  and treats capitalised words after a colon or in titles as names. Good enough for coverage and
  distribution checks ("which names does the dataset talk about"), not for PII redaction.
* document type: format first (an e-mail is an e-mail), then keyword votes over the text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either else etc every few for from further
had has have having he her here hers herself him himself his how however i if in into is it its itself just
let like may me might more most must my myself no nor not now of off on once only or other ought our ours
ourselves out over own per same shall she should so some such than that the their theirs them themselves
then there these they this those through to too under until up upon us use used using very via was we were
what when where which while who whom why will with within without would yes yet you your yours yourself
yourselves one two three new get got make made many much well also e.g i.e vs
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*[A-Za-z0-9]|[A-Za-z]")
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"\u201c\u201d|\n\t*#`>=<]+|\s-\s|\u2014|\u2013")
_MAX_PHRASE_WORDS = 4


@dataclass(frozen=True)
class Enrichment:
    """What enrichment adds to one chunk; stored as columns of the chunks table."""

    key_phrases: tuple[str, ...]
    entities: tuple[str, ...]
    entity_types: tuple[str, ...]


# --------------------------------------------------------------------------- key phrases


def _candidates(text: str) -> list[list[str]]:
    """Runs of content words (at most four) between stop words and punctuation."""
    phrases = []
    for fragment in _PHRASE_BREAK.split(text):
        run: list[str] = []
        for word in _WORD.findall(fragment):
            lower = word.lower()
            if lower in STOPWORDS or lower.isdigit() or len(lower) < 2:
                if run:
                    phrases.append(run)
                run = []
            else:
                run.append(lower)
        if run:
            phrases.append(run)
    return [p[:_MAX_PHRASE_WORDS] for p in phrases]


def key_phrases(text: str, top: int = 5) -> tuple[str, ...]:
    """The ``top`` RAKE phrases of a text, best first, no phrase contained in a better one."""
    candidates = _candidates(text)
    frequency: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in candidates:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scores: dict[str, float] = {}
    for phrase in candidates:
        key = " ".join(phrase)
        scores[key] = sum(degree[w] / frequency[w] for w in phrase) + 0.5 * (candidates.count(phrase) - 1)
    chosen: list[str] = []
    for phrase in sorted(scores, key=lambda p: (-scores[p], p)):
        if not any(phrase in other or other in phrase for other in chosen):
            chosen.append(phrase)
        if len(chosen) == top:
            break
    return tuple(chosen)


# --------------------------------------------------------------------------- entities

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\bhttps?://[^\s)>\]]+")),
    ("DATE", re.compile(rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b|\b(?:{_MONTHS}) \d{{1,2}}(?:, \d{{4}})?\b|\b(?:{_MONTHS}) \d{{4}}\b")),
    ("MONEY", re.compile(r"(?:[$€£] ?\d[\d,.]*(?: ?(?:k|m|bn|million|billion)\b)?)|\b\d[\d,.]*\d? ?(?:EUR|USD|GBP|euros?|dollars?|pounds)\b")),
    ("PERCENT", re.compile(r"\b\d+(?:\.\d+)? ?(?:%|percent\b)")),
    ("QUANTITY", re.compile(r"\b\d+(?:\.\d+)? ?(?:kg|g|mg|km|m|cm|mm|l|ml|°C|C|degrees|hours?|minutes?|days?|weeks?|GB|MB|TB)\b")),
)
_NAME = re.compile(r"\b[A-Z][a-zA-Z0-9&'\-]*(?:[ \t]+(?:(?:of|de|da|van|von|la|le|and|&)[ \t]+)?[A-Z][a-zA-Z0-9&'\-]*)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*(?:[-*+]|\d+[.)]|#+|\|)?\s*$")


def _names(text: str) -> list[str]:
    """Capitalised names: several capitalised words in a row anywhere, or one capitalised word
    that does not start a sentence (a sentence's first word is capitalised anyway)."""
    found = []
    for match in _NAME.finditer(text):
        name = match.group().strip()
        words = name.split()
        while words and words[0].lower() in STOPWORDS:
            words = words[1:]
        if not words:
            continue
        at_start = bool(_SENTENCE_START.search(text[max(0, match.start() - 12) : match.start()]))
        if len(words) == 1 and (at_start or words[0].isupper() and len(words[0]) < 3):
            continue
        found.append(" ".join(words))
    return found


def entities(text: str, limit: int = 20) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(entities, their types), first occurrence order, deduplicated, at most ``limit``."""
    seen: dict[str, str] = {}
    spans: list[tuple[int, str, str]] = []
    for label, pattern in _PATTERNS:
        spans.extend((m.start(), m.group().strip(), label) for m in pattern.finditer(text))
    spans.extend((text.find(name), name, "NAME") for name in _names(text))
    covered = " ".join(s[1] for s in spans if s[2] != "NAME")
    for _, value, label in sorted(spans):
        if label == "NAME" and value in covered:
            continue  # a month in a date, a word in an e-mail address
        if value not in seen and len(seen) < limit:
            seen[value] = label
    return tuple(seen), tuple(seen.values())


def enrich_chunk(text: str) -> Enrichment:
    return Enrichment(key_phrases(text), *entities(text))


# --------------------------------------------------------------------------- document type

_BY_FORMAT = {"eml": "email", "msg": "email", "pptx": "slides", "xlsx": "spreadsheet", "xls": "spreadsheet",
              "csv": "spreadsheet", "json": "data", "jsonl": "data", "epub": "book", "image": "scan"}
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "policy": ("policy", "must", "shall", "required", "prohibited", "compliance", "responsible", "incident"),
    "manual": ("install", "step", "configure", "click", "how to", "guide", "handbook", "procedure", "setup"),
    "report": ("report", "quarter", "revenue", "results", "growth", "analysis", "figures", "summary"),
    "contract": ("agreement", "party", "parties", "hereby", "clause", "term", "liability", "obligations"),
    "meeting notes": ("agenda", "minutes", "attendees", "action items", "decided", "meeting"),
    "faq": ("faq", "frequently asked", "question", "answer"),
    "code documentation": ("function", "parameter", "returns", "api", "class", "module", "```"),
}


def document_type(fmt: str, title: str, text: str) -> str:
    """A coarse kind of document, for coverage planning: the format decides for e-mail, slides,
    spreadsheets, data, books and scans; otherwise the best keyword vote, else 'article'."""
    if fmt in _BY_FORMAT:
        return _BY_FORMAT[fmt]
    sample = (title + "\n" + text[:20_000]).lower()
    votes = {kind: sum(sample.count(word) for word in words) for kind, words in _KEYWORDS.items()}
    votes["faq"] += sample.count("?") // 3
    kind, score = max(votes.items(), key=lambda item: (item[1], item[0]))
    return kind if score >= 3 else "article"


# --------------------------------------------------------------------------- per document


def enrichment_rows(doc_format: str, title: str, text: str, chunk_texts: list[str], chunk_ids: list[str],
                    headings: list[str], vectors, topics, previous: dict[str, int]) -> list[dict]:
    """One dict of enrichment columns per chunk (see ``store.ENRICHMENT_COLUMNS``); ``topics``
    is updated in place with the clusters this document founds or joins."""
    from mbdg_assets.enrich.topics import assign

    enriched = [enrich_chunk(t) for t in chunk_texts]
    kind = document_type(doc_format, title, text)
    assigned = assign(topics, vectors, [e.key_phrases for e in enriched], headings,
                      [previous.get(cid) for cid in chunk_ids])
    return [
        {"key_phrases": list(e.key_phrases), "entities": list(e.entities), "entity_types": list(e.entity_types),
         "topic_id": topic_id, "topic_label": label, "doc_type": kind}
        for e, (topic_id, label) in zip(enriched, assigned)
    ]
