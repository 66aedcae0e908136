"""Lexical grounding: which sentences of the source support an answer, and how much of it.

This is the evidence both the generation reward ("answer found in the source") and the
validator's grounding gate use. It is deliberately strict on numbers: a figure in the answer
that the supporting text does not contain is the commonest way a fluent answer is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mbdg_assets.shared.text import STOPWORDS, content_stems, numbers, stem, words
from mbdg_assets.validate import polarity
from mbdg_assets.validate.question_claims import filled_blank, is_short, slot_support, yes_no_statement

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


# ---------------------------------------------------------------------------------------------
# Claim-level grounding (the validator's gate). The answer is cut into claims; each claim is
# linked to the source window (one or two adjacent sentences) with the best lexical and, when an
# embedder is given, embedding evidence; then hard checks run on that window: every number, name
# and date in the claim must be in it, and the claim must not add or drop a negation. A record
# scores its weakest essential claim, so one unsupported fact sinks it.
# ---------------------------------------------------------------------------------------------

_CLAUSE_SPLIT = re.compile(r";\s+|,\s+(?=(?:but|while|whereas|although|and then)\b)", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*")
# Sentence ends for claims and source windows: punctuation, a blank line, or a line that starts a
# list item / heading / table row. A single newline is a hard wrap inside a sentence, not an end.
_PROSE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n+|\n(?=\s*(?:[-*+#|>]|\d+[.)]\s))")
_NEGATIONS = frozenset("not no never none nothing nobody neither nor cannot without".split())
_DATE_WORDS = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)
ESSENTIAL_MIN_STEMS = 3      # a clause with fewer content words ("Yes.", "This matters.") states no checkable fact
SEMANTIC_FLOOR, SEMANTIC_FULL = 0.35, 0.85  # MiniLM cosine: unrelated sentences sit below ~0.35, paraphrases above ~0.85


@dataclass(frozen=True)
class ClaimSupport:
    claim: str
    span: tuple[int, int] | None                  # char offsets of the supporting window in the source
    lexical: float                                # share of the claim's content stems in the window
    semantic: float | None                        # cosine of claim and window (None without an embedder)
    missing: list[str] = field(default_factory=list)  # numbers / names / dates absent from the window
    negation_mismatch: bool = False
    essential: bool = True
    score: float = 0.0
    entailment: str | None = None                 # the judge's verdict, "abstained: why", or None when not asked
    conflicts: list[str] = field(default_factory=list)  # polarity / antonym / identifier-slot / question-slot findings
    substituted: list[str] = field(default_factory=list)  # 'X where the source says Y': sends the record to review


@dataclass(frozen=True)
class Entailment:
    """What an entailment judge returns: a probability that the window entails the claim, or
    None to abstain, with a note (the verdict, or why it abstained) kept in the record's reasons."""

    probability: float | None
    note: str

    @property
    def abstained(self) -> bool:
        return self.probability is None


def as_entailment(value: Entailment | float | None) -> Entailment:
    """A judge may return an Entailment, a bare probability, or None (abstain, no reason given)."""
    if isinstance(value, Entailment):
        return value
    if value is None:
        return Entailment(None, "abstained")
    return Entailment(float(value), f"p={float(value):.2f}")


@dataclass(frozen=True)
class ClaimGrounding:
    score: float
    claims: list[ClaimSupport]

    @property
    def spans(self) -> list[tuple[int, int]]:
        return sorted({c.span for c in self.claims if c.span and c.score > 0})

    @property
    def needs_review(self) -> bool:
        """A claim repeats the source with one word replaced (an opposite no list knows, or a synonym)."""
        return any(c.substituted for c in self.claims if c.essential)

    def reasons(self, gate: float) -> list[str]:
        out = []
        for c in self.claims:
            if not c.essential or c.score >= gate:
                continue
            why = []
            if c.missing:
                why.append(f"not in the source passage: {', '.join(c.missing)}")
            if c.negation_mismatch:
                why.append("negation differs from the source")
            why += c.conflicts
            if c.entailment and not c.entailment.startswith("abstained"):
                why.append(f"entailment judge: {c.entailment}")
            if not why:
                why.append(f"only {c.lexical:.0%} of its words found")
            out.append(f"grounding: unsupported claim {c.claim[:80]!r} ({'; '.join(why)})")
        out += [f"grounding: {', '.join(c.substituted)} (a replaced word: a person checks it)" for c in self.claims
                if c.essential and c.substituted and c.score >= gate]
        abstained = [c.entailment for c in self.claims if c.entailment and c.entailment.startswith("abstained")]
        if abstained:
            out.append(f"grounding: entailment judge abstained on {len(abstained)} claim(s), scored on lexical and "
                       f"embedding evidence alone ({abstained[0]})")
        return out


def split_claims(answer: str) -> list[str]:
    """Sentences, then clauses joined by ';' or ', but / while / whereas' when each side holds a
    fact of its own (>= ESSENTIAL_MIN_STEMS content words)."""
    claims = []
    for start, end in prose_sentence_spans(answer):
        parts = [p.strip() for p in _CLAUSE_SPLIT.split(answer[start:end]) if p and p.strip()]
        if len(parts) > 1 and all(len(content_stems(p)) >= ESSENTIAL_MIN_STEMS for p in parts):
            claims.extend(parts)
        else:
            claims.append(answer[start:end].strip())
    return [c for c in claims if content_stems(c)]


def prose_sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, treating a single newline as a hard wrap (documents and
    chunks keep their line breaks; a sentence often runs over two lines)."""
    spans, start = [], 0
    for match in _PROSE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def source_windows(source: str) -> list[tuple[int, int]]:
    """Single sentences and pairs of adjacent sentences: a claim may merge two source sentences."""
    sentences = prose_sentence_spans(source)
    pairs = [(a[0], b[1]) for a, b in zip(sentences, sentences[1:])]
    return sentences + pairs


def _name_phrases(claim: str) -> set[str]:
    """Runs of consecutive capitalised words ('Tomas Eklund', 'Northwind'), leading stopwords
    dropped. A single capitalised first word is a sentence start, not a name; an all-caps first
    word (an acronym) or a multi-word run at the start is kept."""
    phrases, run, run_start = set(), [], 0
    tokens = list(_TOKEN.finditer(claim))
    for position, match in enumerate(tokens + [None]):
        token = match.group(0) if match else ""
        if token[:1].isupper():
            run = run or []
            if not run:
                run_start = position
            run.append(re.sub(r"['’]s$", "", token.lower()))  # possessive: "Raman's" names Raman
            continue
        while run and run[0] in STOPWORDS:
            run.pop(0)
            run_start += 1
        if run and (run_start > 0 or len(run) > 1 or tokens[0].group(0).isupper() and len(run[0]) > 1):
            phrases.add(" ".join(run))
        run = []
    return phrases


def _number_tokens(text: str) -> list[str]:
    return [t.replace(",", "") if t[:1].isdigit() else t for t in words(text)]


def _number_contexts(tokens: list[str]) -> set[tuple[str, str]]:
    """(word before, number) and (number, word after) pairs."""
    out = set()
    for i, token in enumerate(tokens):
        if token[:1].isdigit():
            if i > 0:
                out.add((tokens[i - 1], token))
            if i + 1 < len(tokens):
                out.add((token, tokens[i + 1]))
    return out


def _missing_numbers(claim: str, window: str) -> list[str]:
    """Each number occurrence of the claim must appear in the window with one of its neighbouring
    words ('severity 2', '5 cores'): a number that occurs elsewhere in the window does not vouch
    for a changed one. A claim that is only a number needs the number anywhere in the window."""
    tokens, window_tokens = _number_tokens(claim), _number_tokens(window)
    contexts = _number_contexts(window_tokens)
    missing = []
    for i, token in enumerate(tokens):
        if not token[:1].isdigit():
            continue
        mine = ({(tokens[i - 1], token)} if i > 0 else set()) | ({(token, tokens[i + 1])} if i + 1 < len(tokens) else set())
        found = bool(mine & contexts) if mine else token in window_tokens
        if not found:
            missing.append(" ".join(tokens[max(i - 1, 0) : i + 2]))
    return missing


_CLAUSE_PUNCT = re.compile(r"[,;:.!?]+|\n\s*\n")  # a single newline is a hard wrap, not a clause end; brackets neither


def _negation_scopes(text: str, window: int = 4) -> tuple[set[str], set[str]]:
    """(negated, plain) content stems (cut to 5 letters: the light stemmer leaves 'require' and
    'requires' apart): a negation governs the first content word within `window` words after it,
    in its clause ('not allowed before the review' negates 'allowed', not 'review'); every other
    content word is plain (a stem may be in both)."""
    negated, plain = set(), set()
    for clause in _CLAUSE_PUNCT.split(text):
        scope = 0
        for token in words(clause):
            if polarity.is_negation(token):
                scope = window
                continue
            if token in STOPWORDS:
                scope = max(scope - 1, 0)
                continue
            (negated if scope else plain).add(stem(token)[:5])
            scope = 0
    return negated, plain


def negation_differs(claim: str, window: str) -> bool:
    """True when a word negated on one side (and only negated there) appears un-negated, and
    never negated, on the other ('is not filled' vs 'is filled'). A negated clause the claim
    simply left out ('never to the cap') is no mismatch."""
    claim_neg, claim_plain = _negation_scopes(claim)
    window_neg, window_plain = _negation_scopes(window)
    return bool((claim_neg - claim_plain) & (window_plain - window_neg)) or bool(
        (window_neg - window_plain) & (claim_plain - claim_neg))


def _term_text(text: str) -> str:
    """Words for name matching: possessives dropped ("Reitz's" names Reitz) and hyphens removed,
    so a name a PDF hyphenated at a line end ("Disk-Cache") still matches "DiskCache"."""
    return " " + " ".join(re.sub(r"['’]s$", "", w).replace("-", "") for w in words(text)) + " "


def _missing_terms(claim: str, window: str) -> list[str]:
    """Numbers (with their neighbouring word), names (the same run of words), identifiers and
    date words of the claim that the window lacks."""
    window_norm = _term_text(window)
    missing = _missing_numbers(claim, window)
    for term in sorted(_name_phrases(claim) | {w for w in words(claim) if w in _DATE_WORDS}):
        term = term.replace("-", "")
        single = " " not in term  # a one-word name may be inflected ("Tuesdays")
        if not (f" {term} " in window_norm or (single and f" {stem(term)}" in window_norm)):
            missing.append(term)
    window_identifiers = {part for t in (re.sub(r"['’]s$", "", t) for t in polarity.tokens(window))  # "RapidOCR's" names RapidOCR
                          for part in (t.replace("-", ""), *t.split("-"), *(t.split(".", i)[-1] for i in range(1, t.count(".") + 1)))}
    missing += sorted({t for t in polarity.identifiers(claim) if t.replace("-", "") not in window_identifiers} - set(missing))
    return missing


def _conflicts(claim: str, window: str) -> list[str]:
    """What survives rewording: negation parity of aligned clauses, antonyms, identifier slots."""
    out = []
    if polarity.negation_parity_differs(claim, window):
        out.append("negation differs from the source")
    out += [f"says the opposite of the source ({c})" for c in polarity.antonym_conflicts(claim, window)]
    sentences = [window[s:e] for s, e in prose_sentence_spans(window)]
    misplaced = (polarity.misplaced_identifiers(claim, window) + polarity.identifiers_in_the_wrong_sentence(claim, sentences)
                 + polarity.swapped_identifiers(claim, window) + polarity.substituted_identifiers(claim, window))
    out += [f"{t} stands where the source has another identifier" for t in dict.fromkeys(misplaced)]
    return out


def _semantic_evidence(cosine: float | None) -> float:
    if cosine is None:
        return 0.0
    return min(1.0, max(0.0, (cosine - SEMANTIC_FLOOR) / (SEMANTIC_FULL - SEMANTIC_FLOOR)))


NEAR_VERBATIM = 0.9  # lexical coverage at or above which a claim needs no entailment judge
# Below this evidence the best window is not about the claim (claims from another document score
# <= 0.38 on the benchmark, reworded true claims >= 0.76): no verdict may rescue it, and a lenient
# judge (SmolLM2 answers "supported" to everything) must not be asked.
JUDGE_MIN_EVIDENCE = 0.4


def support_claim(claim: str, source: str, windows: list[tuple[int, int]], window_stems: list[set[str]],
                  cosines: list[float] | None = None, judge=None) -> ClaimSupport:
    """The best window for one claim and the claim's score there: evidence = lexical coverage,
    raised toward the embedding evidence for paraphrases; a missing number / name / date or a
    flipped negation caps it at 0.2 (an altered fact is worse than a vague one). The judge, when
    given, decides claims that are not near-verbatim but have some evidence; it may overrule the
    negation heuristic (word-scope negation misreads 'only after' vs 'not before'), never a
    missing number, name or date."""
    stems = set(content_stems(claim))
    essential = len(stems) >= ESSENTIAL_MIN_STEMS
    if not windows or not stems:
        return ClaimSupport(claim, None, 0.0, None, essential=essential)
    lexical = [len(stems & ws) / len(stems) for ws in window_stems]
    evidence = [max(lx, (lx + _semantic_evidence(cosines[i] if cosines else None)) / 2) for i, lx in enumerate(lexical)]
    best = max(range(len(windows)), key=lambda i: (round(evidence[i], 6), -(windows[i][1] - windows[i][0])))
    start, end = windows[best]
    text = source[start:end]
    missing = _missing_terms(claim, text)
    negation = negation_differs(claim, text)
    conflicts = _conflicts(claim, text)
    if negation and "negation differs from the source" in conflicts:
        conflicts.remove("negation differs from the source")
    score = evidence[best] if not (missing or negation or conflicts) else min(evidence[best], 0.2)
    # one word replaced in a near-verbatim claim: an opposite no list holds, or a synonym; its score
    # stands (it is no evidence against the claim) but a person decides (ClaimGrounding.needs_review)
    substituted = [] if score < evidence[best] else [f"{mine!r} where the source says {theirs!r}"
                                                     for mine, theirs in polarity.substituted_words(claim, text)]
    note = None
    if judge is not None and not missing and lexical[best] < NEAR_VERBATIM and evidence[best] >= JUDGE_MIN_EVIDENCE:
        verdict = as_entailment(judge(claim, text))
        note = verdict.note
        if verdict.probability is not None:  # a 'no' caps the claim, a 'yes' lifts it; an abstention leaves it
            p = verdict.probability
            score = min(score, p) if p < 0.5 else max(evidence[best], p)
    return ClaimSupport(claim, (start, end), round(lexical[best], 4), None if cosines is None else round(cosines[best], 4),
                        missing, negation, essential, round(score, 4), note, conflicts, substituted)


def _fold_quotes(text: str) -> str:
    """Typographic apostrophes as ASCII (same length, so offsets into the source hold): a PDF's
    "doesn’t" is the "doesn't" of the answer."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def claim_grounding(answer: str, source: str, embed=None, judge=None, question: str | None = None) -> ClaimGrounding:
    """Every claim of `answer` linked to its best window of `source`. `embed`: optional callable
    texts -> L2-normalised vectors (enrich.embeddings.Embedder.embed) adding embedding evidence.
    `judge`: optional entailment hook (claim, window text) -> Entailment, probability or None,
    asked only for claims that are not near-verbatim, have some evidence and keep every number,
    name and date (see support_claim); the LLM judge (validate.entailment.EntailmentJudge) plugs
    in here. `question`: what the answer answers; a short answer is judged together with it
    (validate.question_claims): a filled-in blank as a claim, any other question by the slot the
    answer fills in the source."""
    answer, source, short, filled, claims, windows = _claims_and_windows(answer, source, question)
    if not claims:
        return ClaimGrounding(0.0, [])
    window_stems = [set(content_stems(source[s:e])) for s, e in windows]
    cosine_rows = None
    if embed is not None and windows:
        vectors = embed(_embedded_texts(claims, source, windows))
        cosine_rows = (vectors[: len(claims)] @ vectors[len(claims):].T).tolist()
    supports = [support_claim(c, source, windows, window_stems, cosine_rows[i] if cosine_rows else None, judge)
                for i, c in enumerate(claims)]
    if short and not filled:  # the answer's own terms must be in the source, and in the slot asked about
        fragments = [replace(s, essential=True, score=0.2 if s.missing else 1.0, negation_mismatch=False, conflicts=[], substituted=[])
                     for s in supports]  # a fragment has no polarity of its own: the slot claim judges the pair
        supports = fragments + [_slot_claim(question, answer, source)]
    statement = yes_no_statement(question, answer) if question else None
    if statement:
        supports += _polarity_only(support_claim(statement, source, windows, window_stems))
    essential = [s for s in supports if s.essential] or supports
    return ClaimGrounding(round(min(s.score for s in essential), 4), supports)


def _claims_and_windows(answer: str, source: str, question: str | None):
    """(answer, source) with folded quotes, whether the answer is short, its filled-in blank, its
    claims and the source's windows: what claim_grounding starts from."""
    answer, source = _fold_quotes(answer), _fold_quotes(source)
    short = is_short(answer, question)
    filled = filled_blank(question, answer) if short else None
    return answer, source, short, filled, split_claims(filled or answer), source_windows(source)


def _embedded_texts(claims: list[str], source: str, windows: list[tuple[int, int]]) -> list[str]:
    return claims + [source[s:e] for s, e in windows]


def grounding_texts(answer: str, source: str, question: str | None = None) -> list[str]:
    """The texts claim_grounding(answer, source, embed, question=question) hands `embed`, so
    that a block of records can be embedded in one call first (see validator.py): one call per
    record took 1.5x as long for the same texts."""
    _answer, source, _short, _filled, claims, windows = _claims_and_windows(answer, source, question)
    return _embedded_texts(claims, source, windows) if claims and windows else []


def _polarity_only(support: ClaimSupport) -> list[ClaimSupport]:
    """A yes/no answer's statement counts only when its polarity contradicts the source (its
    words are the question's, which need not be the passage's)."""
    polar = [c for c in support.conflicts if "negation" in c or "opposite" in c]
    if not (support.negation_mismatch or polar):
        return []
    return [replace(support, score=0.2, missing=[], conflicts=polar or ["negation differs from the source"], substituted=[])]


def _slot_claim(question: str, answer: str, source: str) -> ClaimSupport:
    slot = slot_support(question, answer, source, prose_sentence_spans(source))
    return ClaimSupport(slot.claim, slot.span, slot.focus, None, essential=True, score=slot.score,
                        conflicts=[slot.why] if slot.why else [])
