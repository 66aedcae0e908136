"""Question form: faults a person would not accept in a question the model wrote for a fact,
and how likely the model finds the question's wording on its own (fluency).

A small model writing a question for a fact sentence copies the sentence's words into the
question's frame and garbles the join: "What temperature is the roaster charges the drum at?",
"How long does it take to respond to a severity 2 pages of a customer service response?". The
round-trip match (validate/question_match.py) cannot see this: the question still lands on its
fact. Two signals can:

* form_faults: rules on the words, no model: joins of words the passage never makes, a second
  question, a definition question its fact does not answer, a restated answer, none of what the
  fact says of its subject;
* fluency: the mean log-probability of the question's tokens, read as a user's message with
  nothing before it (no passage); it drops for a broken agreement or word order. Rare domain
  words lower it too, so it is taken relative to the fact sentence (the same words, written
  correctly): the question's mean minus the fact's. The embedded backend computes it
  (EmbeddedLLM.mean_logprobs); other backends leave it unmeasured.

Both rank the K candidates of a target (the winner rule in generate/candidates.py: a question in
good form first) and send a record to review (validate/stages.py). bench/bench_question_fluency.py
measures how well they tell garbled questions from the model's own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from mbdg_assets.generate.rewards import ASKING_WORDS
from mbdg_assets.shared.text import STOPWORDS, stem, words

# Question mean token log-probability minus its fact's: below this, a person should look. Chosen
# with bench/bench_question_fluency.py on the model's questions for six held-out READMEs: the
# highest threshold that sends at most 5% of them to review (4.2%; it catches 12.6% of their
# garbled versions: a weak gate, a last resort; as a ranking, a question scores above its own
# garbled version 98% of the time, which is why it ranks the candidates).
MIN_FLUENCY = -1.5
MAX_COPIED_RUN = 8     # words in a row copied from a fact without key value: the question restates it
MAX_SUBJECT_WORDS = 5  # predicate_words: an auxiliary later than this does not end the fact's subject
FLUENCY_WEIGHT = 0.05  # per nat of relative fluency, added to a candidate's reward when the winner is chosen

Score = Callable[[list[str]], list[float]]
_AUXILIARIES = frozenset("is are was were be been being has have had do does did will would can could shall should "
                         "may might must not".split())
# Words that link phrases like a preposition ("converting timezones using the method"): they end a run
_CONNECTIVES = frozenset("using including via per like within without across among based according given".split())
_SECOND_QUESTION = re.compile(r"(?:[,;]\s*(?:and|or|but)?|\?|\s(?:and|or))\s+(?:how|what|why|when|where|which|who)\s+"
                              r"(?:is|are|was|were|do|does|did|can|could|would|should|will|must|might|may)\b", re.I)
_DEFINITION = re.compile(r"^(?:what|who)\s+(?:is|are)\s+(?:(?:the|a|an)\s+)?(.+?)\s*\?$", re.I)
_ARTICLES = frozenset({"a", "an", "the"})
_DEFINING = frozenset("is are means refers denotes".split())
_PIECE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[^\w\s]")


def relative_fluency(questions: Sequence[str], fact: str, score: Score) -> list[float]:
    """Per question, its mean token log-probability minus the fact sentence's (one scoring call);
    NaN where either could not be scored."""
    if not questions:
        return []
    *asked, base = score(list(questions) + [fact])
    return [round(v - base, 4) if not (math.isnan(v) or math.isnan(base)) else math.nan for v in asked]


def _key(word: str) -> str:
    """A word's light stem with a final "e" or "y" dropped: "charge" and "charges" (stem "charg"),
    "authority" and "authorities" (stem "authorit") meet."""
    key = stem(word[:-3] + "y" if word.endswith("ies") and len(word) > 4 else word)
    return key[:-1] if key.endswith(("e", "y")) and len(key) > 3 else key


def _runs(text: str, through: frozenset[str] = frozenset()) -> list[list[str]]:
    """Runs of content words (lower case) between small words, possessives and punctuation; a
    hyphenated compound counts as its words ("customer-facing" is "customer", "facing"); the
    words in `through` are skipped without ending a run."""
    runs: list[list[str]] = [[]]
    for piece in _PIECE.findall(text.replace("-", " ")):
        word = piece.lower()
        if piece.endswith(("'s", "’s")):
            runs[-1].append(word[:-2])
            runs.append([])
        elif word in through:
            continue
        elif not piece[0].isalnum() or word in STOPWORDS or word in _CONNECTIVES:
            runs.append([])
        else:
            runs[-1].append(word)
    return [r for r in runs if r]


def unseen_joins(question: str, passage: str) -> list[str]:
    """Neighbouring content words of the question (no small word between them: a compound, an
    adjective and its noun, a subject and its verb) that the passage never puts side by side,
    asking words ("how long", "what percentage") aside. A question built from the passage's own
    phrases has none; a garbled one glues its words into phrases nobody wrote ("a customer
    service response", "the written review address"). Compared on light stems, so "bag holds"
    matches "bags hold", and across the passage's auxiliaries, which a question moves to its front
    ("are severity 2 pages acknowledged" joins what "pages are acknowledged" says)."""
    seen = {(_key(a), _key(b)) for run in _runs(passage, _AUXILIARIES) for a, b in zip(run, run[1:])}
    pairs = dict.fromkeys((a, b) for run in _runs(question) for a, b in zip(run, run[1:]))
    return [f"{a} {b}" for a, b in pairs if (_key(a), _key(b)) not in seen
            and stem(a) not in ASKING_WORDS and stem(b) not in ASKING_WORDS]


def form_source(chunks: list[dict]) -> str:
    """What a question's phrases may come from: its chunks' headings and text (a question may
    name the document's subject, "the incident response policy", from a heading)."""
    return "\n\n".join(" > ".join(c.get("heading_path") or ()) + "\n\n" + c["text"] for c in chunks)


def predicate_words(fact: str, span: str | None = None) -> set[str]:
    """The content words (light stems) of what a fact says of its subject, when the fact opens
    "<subject of up to MAX_SUBJECT_WORDS words> is / are / has / can ... <predicate>"; its key
    value's words left out. Empty when the fact does not open that way (no parser: the subject of
    "Bags hold 250 grams" cannot be told from its verb by rule)."""
    tokens = words(fact)
    value = {_key(w) for w in words(span or "")}
    for i, word in enumerate(tokens[1 : MAX_SUBJECT_WORDS + 1], 1):
        if word in _AUXILIARIES:
            said = [w for w in tokens[i + 1 :]
                    if not {w} & (STOPWORDS | _AUXILIARIES | _CONNECTIVES) and stem(w) not in ASKING_WORDS]
            return {_key(w) for w in said} - value
    return set()


def copied_run(question: str, fact: str) -> int:
    """The longest run of words the question copies from the fact, in order."""
    asked, said = words(question), words(fact)
    best, previous = 0, [0] * (len(said) + 1)
    for word in asked:
        current = [0] * (len(said) + 1)
        for j, other in enumerate(said, 1):
            if word == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def undefined_subject(question: str, fact: str) -> bool:
    """A "What is <the fact's opening words>?" question whose fact goes on with something other
    than a definition ("Full responsibility to assess them belongs to ...", "the home directory
    for the ftp user is preserved ..."): the question asks for a definition the fact does not give."""
    asked = _DEFINITION.match(question.strip())
    if not asked:
        return False
    subject, said = words(asked.group(1)), words(fact)
    said = said[1:] if said[:1] and said[0] in _ARTICLES else said
    if not subject or said[: len(subject)] != subject or len(said) <= len(subject):
        return False
    verb, after = said[len(subject)], said[len(subject) + 1 : len(subject) + 2]
    return verb not in _DEFINING or (verb in ("is", "are") and bool(after) and after[0].endswith("ed"))


def form_faults(question: str, source: str, fact: str | None = None, span: str | None = None) -> list[str]:
    """What is wrong with a question's form, for a person: joins its passage (`source`, see
    form_source) never makes; a second question tacked on ("..., and how would you determine
    it?"): one fact sentence answers one question, so the record would leave half of it open;
    given its `fact`: a definition question the fact does not answer (undefined_subject); for a
    fact without key value, MAX_COPIED_RUN or more of its words in a row (the question holds its
    answer: "How to install local certificate authorities ..., please put the certificate files
    as single files ...?"); none of what the fact says of its subject (predicate_words): "How
    many working days can a written review be?" names the subject of "A written review is due
    within 5 working days ..." and its unit but not "due", so it asks something the fact does not
    answer."""
    faults = []
    if joins := unseen_joins(question, source):
        faults.append(f"the question joins words its passage never joins ({', '.join(joins)})")
    if fact and not span and (copied := copied_run(question, fact)) >= MAX_COPIED_RUN:
        faults.append(f"the question restates its answer ({copied} words of it in a row)")
    if fact and undefined_subject(question, fact):
        faults.append("the question asks what its fact's subject is; the fact does not say")
    predicate = predicate_words(fact, span) if fact else set()
    if predicate and not predicate & {_key(w) for w in words(question)}:
        faults.append("the question names its fact's subject but nothing the fact says of it")
    if second := _SECOND_QUESTION.search(question.rstrip(" ?")):
        faults.append(f"the question asks two things ({second.group(0).strip()!r} ...)")
    return faults


def disfluent(fluency: float | None) -> bool:
    """Fluency was measured (None or NaN: it was not) and is below MIN_FLUENCY."""
    return fluency is not None and not math.isnan(fluency) and fluency < MIN_FLUENCY


def well_formed(faults: Sequence[str], fluency: float | None) -> bool:
    """No fault of form, and fluent enough where fluency was measured."""
    return not faults and not disfluent(fluency)
