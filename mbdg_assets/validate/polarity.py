"""Polarity and identifier checks of a claim against its supporting window that survive rewording.

Lexical coverage cannot see a flipped polarity or a swapped identifier: "X is not Y" and "X is Y"
share every content word, and so do "use A to read and B to write" and "use B to read and A to
write". Three checks, each a reason the grounding stage caps a claim:

* negation parity of aligned clauses: a claim clause that repeats a window clause nearly word for
  word must carry the same number of negations modulo two ("not no longer" = "still");
* antonyms: a word of the claim whose opposite (allowed/forbidden, must/must not, enabled/
  disabled, before/after, ...) is all the window says about that concept, negation taken into
  account ("not allowed" agrees with "forbidden");
* identifier slots: an identifier (code name, dotted path, CamelCase, snake_case) of the claim
  whose own neighbouring words in the window differ from its neighbours in the claim while those
  neighbours sit beside a different identifier in the window ("raise_on_giveup keyword" vs
  "on_success keyword").

Limits: converse relations ("A before B" = "B after A") are read as a contradiction; antonyms
outside the list below and reworded contradictions that share no concept with the window
("rarely" vs "often" is listed, "a handful" vs "many" is not) pass these checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

from mbdg_assets.shared.text import STOPWORDS, stem

NEGATIONS = frozenset("not no never none nothing nobody neither nor cannot without".split())
_CLAUSE = re.compile(r"[,;:!?]+|\.(?=\s|$)|\n\s*\n")  # brackets do not end a clause: 'has not (limited) support'

# concept -> (words with + polarity, words with - polarity); matched on lower-cased word tokens.
_OPPOSITES = {
    "permit": ("allow allowed allows permit permitted permits".split(), "forbid forbidden forbids prohibit prohibited prohibits disallow disallowed disallows".split()),
    "require": ("require required requires mandatory compulsory".split(), "optional".split()),
    "enable": ("enable enabled enables".split(), "disable disabled disables".split()),
    "order": ("before earlier prior".split(), "after later afterwards".split()),
    "always": ("always".split(), "never".split()),
    "truth": ("true".split(), "false".split()),
    "include": ("include included includes inclusive".split(), "exclude excluded excludes exclusive".split()),
    "accept": ("accept accepted accepts".split(), "reject rejected rejects".split()),
    "success": ("succeed succeeds succeeded success successful".split(), "fail fails failed failure unsuccessful".split()),
    "grow": ("increase increases increased raise raises".split(), "decrease decreases decreased reduce reduces".split()),
    "extreme": ("maximum max".split(), "minimum min".split()),
    "position": ("first".split(), "last".split()),
    "amount": ("more most many".split(), "less least fewer fewest few".split()),
    "level": ("above higher upper".split(), "below lower".split()),
    "size": ("larger largest bigger biggest".split(), "smaller smallest".split()),
    "speed": ("faster fastest".split(), "slower slowest".split()),
    "age": ("older oldest".split(), "newer newest".split()),
    "frequency": ("often frequently usually commonly".split(), "rarely seldom".split()),
    "sync": ("synchronous synchronously sync".split(), "asynchronous asynchronously async".split()),
    "locality": ("local locally".split(), "remote remotely".split()),
    "inside": ("inside internal internally".split(), "outside external externally".split()),
    "validity": ("valid".split(), "invalid".split()),
    "support": ("supported".split(), "unsupported".split()),
    "safety": ("safe safely".split(), "unsafe".split()),
    "manual": ("automatic automatically".split(), "manual manually".split()),
    "explicit": ("explicit explicitly".split(), "implicit implicitly".split()),
    "visibility": ("public visible".split(), "private hidden".split()),
    "sameness": ("same identical".split(), "different".split()),
    "difficulty": ("easy easier easiest simple simpler".split(), "hard harder difficult complex".split()),
    "case": ("uppercase".split(), "lowercase".split()),
    "direction": ("ascending".split(), "descending".split()),
    "change": ("add adds added".split(), "remove removes removed".split()),
}
_POLARITY = {w: (concept, sign) for concept, (plus, minus) in _OPPOSITES.items()
             for sign, group in ((1, plus), (-1, minus)) for w in group}
_ANTONYMS = Path(__file__).with_name("data") / "antonyms.tsv"  # WordNet 3.0, scripts/build_antonyms.py


@lru_cache(maxsize=1)
def opposite_poles() -> dict[str, frozenset[tuple[int, int]]]:
    """Word -> (pair, side) of every antonym pair it stands in: WordNet's pairs (data/antonyms.tsv,
    a sense's synonyms and an adjective's satellites on each side) and the hand list above
    (technical pairs WordNet lacks: sync/async, max/min, uppercase/lowercase). Words of WordNet's
    pairs that are stopwords or shorter than three letters are left out ('in'/'out', 'on'/'off'
    are too often other parts of speech)."""
    poles: dict[str, set[tuple[int, int]]] = {}
    wordnet = [line.split("\t") for line in _ANTONYMS.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]
    for i, (plus, minus) in enumerate(wordnet):
        for side, text in enumerate((plus, minus)):
            for word in text.split():
                if len(word) > 2 and word not in STOPWORDS and word not in NEGATIONS:
                    poles.setdefault(word, set()).add((i, side))
    for i, (plus, minus) in enumerate(_OPPOSITES.values(), start=len(wordnet)):
        for side, group in enumerate((plus, minus)):
            for word in group:
                poles.setdefault(word, set()).add((i, side))
    return {word: frozenset(p) for word, p in poles.items()}


@lru_cache(maxsize=8192)
def opposed_words(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """Words of clause `a` that clause `b` lacks while `b` has one of their antonyms that `a`
    lacks in the same slot (a neighbouring content word in common): the opposite word in its place.
    Without the slot 'begins when the tests are over' would oppose 'starts when the tests finish'."""
    poles = opposite_poles()
    only_b = {}
    for j, t in enumerate(b):
        if t not in a:
            for pole in poles.get(t, ()):
                only_b.setdefault(pole, []).append(j)
    if not only_b:
        return ()
    out = []
    for i, t in enumerate(a):
        if t in b or t in out:
            continue
        slots = [j for line, side in poles.get(t, ()) for j in only_b.get((line, 1 - side), ())]
        if slots and (near := _neighbours(a, i)) and any(near & _neighbours(b, j) for j in slots):
            out.append(t)  # its antonym shares a neighbouring word: the same slot ('job stops when' / 'job starts when')
    return tuple(out)


_IDENTIFIER = re.compile(r"(?<![\w.])(?:_*[A-Za-z]\w*(?:\.[A-Za-z_]\w*)+|_*[A-Za-z][A-Za-z0-9]*_\w*|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*|[A-Z]{2,}[a-z]+\w*)(?!\w)")


_TOKEN = re.compile(r"\w+(?:[.'’-]\w+)*")


@lru_cache(maxsize=4096)  # the windows of a chunk recur for every record made from it
def tokens(text: str) -> tuple[str, ...]:
    """Lower-cased tokens that keep identifiers whole (snake_case, dotted.paths), unlike
    shared.text.words, which splits on underscores."""
    return tuple(t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFKC", text)))


def is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith(("n't", "n’t"))


@lru_cache(maxsize=4096)
def clauses(text: str) -> tuple[tuple[str, ...], ...]:
    """Word tokens per clause (commas, semicolons, colons, brackets and sentence ends cut)."""
    return tuple(ws for part in _CLAUSE.split(text) if (ws := tokens(part)))


@lru_cache(maxsize=8192)
def _stems(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(stem(t) for t in tokens if t not in STOPWORDS and not is_negation(t))


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@lru_cache(maxsize=4096)
def sentences(text: str) -> tuple[tuple[str, ...], ...]:
    """Word tokens per sentence."""
    return tuple(ws for part in _SENTENCE.split(text) if (ws := tokens(part)))


@lru_cache(maxsize=1024)  # four checks align the same claim and window
def aligned_clauses(claim: str, window: str, min_overlap: float = 0.75, split=clauses) -> tuple:
    """(claim clause, window clause) token tuples where each shares >= min_overlap of the other's
    content stems: the claim repeats that clause, near word for word. `split=sentences` aligns
    whole sentences (a short clause with one word replaced shares too little to align alone)."""
    window_clauses = [(c, _stems(c)) for c in split(window)]
    pairs = []
    for clause in split(claim):
        stems = _stems(clause)
        if len(stems) < 2:
            continue
        for other, other_stems in window_clauses:
            if not other_stems:
                continue
            shared = len(stems & other_stems)
            if shared < min_overlap * max(len(stems), len(other_stems)) and shared:
                shared += len(opposed_words(clause, other))  # 'the lock is released' still repeats 'the lock is acquired'
            if shared / len(stems) >= min_overlap and shared / len(other_stems) >= min_overlap:
                pairs.append((clause, other))
    return tuple(pairs)


def _parity_differs(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return sum(map(is_negation, a)) % 2 != sum(map(is_negation, b)) % 2


@lru_cache(maxsize=1024)
def one_word_apart(claim: str, window: str) -> tuple:
    """(claim clause, window clause) where the window clause holds every content stem of the claim
    clause but one, and at least two: a short claim repeating part of a longer clause with one word
    changed ('the culling method is deterministic' in 'the culling method is random and ...')."""
    window_clauses = [(c, _stems(c)) for c in clauses(window)]
    pairs = []
    for clause in clauses(claim):
        stems = _stems(clause)
        if len(stems) >= 3:
            pairs += [(clause, other) for other, other_stems in window_clauses if len(stems - other_stems) == 1]
    return tuple(pairs)


def negation_parity_differs(claim: str, window: str) -> bool:
    """True when a claim clause repeats a window clause with an odd number of negations on one
    side and an even number on the other ('not no longer' = 'still'), unless an odd number of
    words turned into their opposites makes up for it ('is not allowed' = 'is forbidden'). Whole
    sentences that repeat each other almost whole (>= 90% both ways) are aligned too: a clause of
    one content word ('which is not very expensive') aligns with nothing alone, and a claim that is
    one clause of a longer sentence must not answer for the others' negations."""
    pairs = aligned_clauses(claim, window) + aligned_clauses(claim, window, 0.9, sentences)
    return any(_parity_differs(a, b) and len(opposed_words(a, b)) % 2 == 0 for a, b in pairs)


def _polar_counts(clause) -> Counter:
    return Counter(_POLARITY[t] for t in clause if t in _POLARITY)


def swapped_opposites(claim: str, window: str) -> list[str]:
    """Words or concepts turned into their opposites between a claim clause and the window clause
    it repeats: a word of the claim where the window has its antonym ('the lock is released' for
    'the lock is acquired', 'spaces after and after keys' for 'before and after keys'), unless a
    negation added or dropped makes up for it ('is not allowed' for 'is forbidden')."""
    out = set()
    for a, b in aligned_clauses(claim, window):
        mine, theirs = _polar_counts(a), _polar_counts(b)
        concepts = {concept for concept, _ in (mine - theirs)} & {concept for concept, _ in (theirs - mine)}
        opposed = opposed_words(a, b)
        if _parity_differs(a, b) and len(opposed) % 2 == 1:
            continue
        out |= concepts | {t for t in opposed if t not in _POLARITY}  # a listed word is named by its concept
    return sorted(out)


def _concept_signs(text: str, scope: int = 3) -> dict[str, set[int]]:
    """Concept -> polarities stated in `text`; a negation up to `scope` words before a word flips it
    ('not allowed' = forbidden), 'must not' states prohibition."""
    out: dict[str, set[int]] = {}
    for clause in clauses(text):
        negated_until = -1
        for i, token in enumerate(clause):
            if is_negation(token):
                negated_until = i + scope
                continue
            if token == "must":
                negated = i + 1 < len(clause) and is_negation(clause[i + 1])
                concept, sign = ("permit", -1) if negated else ("require", 1)
                out.setdefault(concept, set()).add(sign)
                continue
            if token in _POLARITY:  # a negation flips the first such word it governs, no further
                concept, sign = _POLARITY[token]
                out.setdefault(concept, set()).add(-sign if i <= negated_until else sign)
                negated_until = -1
    return out


_NEGATIVE_PREFIX = re.compile(r"^(?:un|in|im|ir|il|dis|non-?)(?=[a-z]{4,})")


def prefix_opposites(claim: str, window: str) -> list[str]:
    """Words negated by a prefix on one side only: 'available' in the claim where the window says
    'unavailable' (and never 'available'), 'blocking' vs 'non-blocking', 'secure' vs 'insecure'."""
    mine, theirs = set(tokens(claim)), set(tokens(window))
    negated = _negated_words(claim) | _negated_words(window)  # 'not invisible' agrees with 'visible'
    out = set()
    for a, b in ((mine, theirs), (theirs, mine)):
        for word in a - b:
            base = _NEGATIVE_PREFIX.sub("", word)
            if base != word and base in b and base not in a and word not in b and not {word, base} & negated:
                out.add(base)
    return sorted(out)


def _negated_words(text: str, scope: int = 3) -> set[str]:
    """Words up to `scope` tokens after a negation in their clause."""
    return {t for clause in clauses(text) for i, t in enumerate(clause)
            if any(is_negation(u) for u in clause[max(i - scope, 0): i])}


def antonym_conflicts(claim: str, window: str) -> list[str]:
    """Concepts the claim states with one polarity where the window states only the other, or
    where a clause the claim repeats has the opposite word in its place, or a word negated by a
    prefix on one side only."""
    mine, theirs = _concept_signs(claim), _concept_signs(window)
    found = {c for c, signs in mine.items() if c in theirs and not signs & theirs[c]}
    return sorted(found | set(swapped_opposites(claim, window)) | set(prefix_opposites(claim, window)))


@lru_cache(maxsize=4096)
def identifiers(text: str) -> tuple[str, ...]:
    """Code-like names: dotted paths, snake_case, camelCase / CamelCase, a trailing () dropped."""
    return tuple(m.group(0).lower() for m in _IDENTIFIER.finditer(text))


@lru_cache(maxsize=1 << 14)
def _key(token: str) -> str:
    """A word's inflections under one key: the light stem, a final 'e' and a doubled last letter
    dropped, cut to 5 letters ('store'/'stored', 'skips'/'skipped', 'locate'/'located')."""
    word = stem(token)
    word = word[:-1] if word.endswith("e") and len(word) > 3 else word
    word = word[:-1] if len(word) > 3 and word[-1] == word[-2] else word
    return word[:5]


def _slot(tokens, index: int) -> tuple[str | None, str | None]:
    """The nearest content word before and after a token (by _key: 'locate' / 'located' are one), None at an end."""
    out = []
    for direction in (-1, 1):
        i = index + direction
        while 0 <= i < len(tokens) and (tokens[i] in STOPWORDS or is_negation(tokens[i])):
            i += direction
        out.append(_key(tokens[i]) if 0 <= i < len(tokens) else None)
    return out[0], out[1]


def _neighbours(tokens, index: int) -> set[str]:
    """The nearest content word on each side of a token."""
    return {k for k in _slot(tokens, index) if k}


def _same_slot(a, i: int, b, j: int) -> bool:
    """Both neighbours agree where both exist, and at least one does: a word put in another's place
    ('is used for most timestamps' / 'is ignored for most timestamps'), not a reworded clause."""
    sides = [(x, y) for x, y in zip(_slot(a, i), _slot(b, j)) if x and y]
    return bool(sides) and all(x == y for x, y in sides)


def _same_root(a: str, b: str) -> bool:
    """'paying' / 'payment': one key starts the other."""
    ka, kb = _key(a), _key(b)
    return min(len(ka), len(kb)) >= 3 and (ka.startswith(kb) or kb.startswith(ka))


def misplaced_identifiers(claim: str, window: str) -> list[str]:
    """Identifiers of the claim found in the window but in another slot: none of the claim's
    neighbouring words stands beside it in the window, while one of them stands beside another
    identifier there ('on_exception will not be raised' where the window says
    'RequestException will not be raised')."""
    out = []
    window_clauses, names = clauses(window), set(identifiers(window))
    for clause in clauses(claim):
        for i, token in enumerate(clause):
            if token not in names:
                continue
            near = _neighbours(clause, i)
            if not near:
                continue
            own = set().union(*(_neighbours(c, j) for c in window_clauses for j, t in enumerate(c) if t == token))
            if near & own:
                continue
            others = set().union(*(_neighbours(c, j) for c in window_clauses for j, t in enumerate(c) if t in names and t != token))
            if near & others:
                out.append(token)
    return out


def _plain_word(token: str) -> bool:
    """A content word that no other check covers: not a stopword, negation, number or identifier."""
    return token.isalpha() and len(token) > 2 and token not in STOPWORDS and not is_negation(token)


def substituted_words(claim: str, window: str) -> list[tuple[str, str]]:
    """(claim word, window word): in a clause the claim repeats near word for word, a content word
    of the claim that the window clause lacks standing where the window clause has a word the claim
    lacks, in the same slot (_same_slot): 'the is_dst parameter is used' for '... is ignored'. Opposites outside any list look like this, and so does a synonym: the grounding stage
    sends such a claim to review rather than rejecting it. Inflections are not substitutions
    (compared by _key)."""
    out = []
    for a, b in aligned_clauses(claim, window) + aligned_clauses(claim, window, split=sentences) + one_word_apart(claim, window):
        keys_a, keys_b = {_key(t) for t in a}, {_key(t) for t in b}
        theirs = [j for j, u in enumerate(b) if _plain_word(u) and _key(u) not in keys_a]
        for i, t in enumerate(a):
            if not theirs or not _plain_word(t) or _key(t) in keys_b:
                continue
            slot = next((b[j] for j in theirs if _same_slot(a, i, b, j) and not _same_root(t, b[j])), None)
            if slot:
                out.append((t, slot))
    return list(dict.fromkeys(out))


def swapped_identifiers(claim: str, window: str) -> list[str]:
    """Two identifiers that trade places in a clause the claim repeats ('logging.Formatter inherits
    from ColoredFormatter' for 'ColoredFormatter inherits from logging.Formatter'); a passive
    rewording ('B is called by A') has 'by' on one side only and is left alone."""
    out, known = [], set(identifiers(claim))
    for a, b in aligned_clauses(claim, window):
        names = [t for t in a if t in known and a.count(t) == 1 and b.count(t) == 1]
        if len(names) < 2 or ("by" in a) != ("by" in b):
            continue
        order_a, order_b = sorted(names, key=a.index), sorted(names, key=b.index)
        if order_a != order_b:
            out += [t for t, u in zip(order_a, order_b) if t != u]
    return list(dict.fromkeys(out))


def substituted_identifiers(claim: str, window: str) -> list[str]:
    """Identifiers of a clause the claim repeats that the window clause lacks while it has another
    identifier the claim clause lacks: one name put in another's place ('calling their text file
    PostScript' for 'calling their text file README.mp3')."""
    out, mine, theirs = [], set(identifiers(claim)), set(identifiers(window))
    for a, b in aligned_clauses(claim, window):
        gone = [t for t in a if t in mine and t not in b]
        if gone and any(t in theirs and t not in a for t in b):
            out += gone
    return list(dict.fromkeys(out))


def identifiers_in_the_wrong_sentence(claim: str, sentences: list[str], margin: float = 0.25) -> list[str]:
    """For a window of several sentences: identifiers of the claim that stand only in a sentence
    matching the rest of the claim clearly worse (by `margin` of its content words) than another
    sentence which holds a different identifier, the parallel-sentence swap ('max_time specifies
    the maximum number of calls' where max_tries is the one that does)."""
    if len(sentences) < 2:
        return []
    facts = [(set(identifiers(s)), {part for t in tokens(s) for part in (t, *t.split("."))}, _stems(tokens(s))) for s in sentences]
    out = []
    for name in dict.fromkeys(identifiers(claim)):
        rest = _stems(tokens(claim)) - _stems(tokens(name.replace("_", " ").replace(".", " "))) - {name}
        if not rest:
            continue
        cover = [len(rest & f[2]) / len(rest) for f in facts]
        holding = [i for i, f in enumerate(facts) if name in f[1]]
        rivals = [i for i, f in enumerate(facts) if i not in holding and f[0] - {name}]
        if holding and rivals and max(cover[i] for i in rivals) >= max(cover[i] for i in holding) + margin:
            out.append(name)
    return out
