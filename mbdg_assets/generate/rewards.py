"""The hybrid reward that picks the best of K candidates: 0.7 x field reward + 0.3 x overall.

Field reward: deterministic checks per field (present and typed, inside the schema's length band,
no repetition loop; options all different; conversation turns alternating), an answer field's
score multiplied by its grounding in the passage; for MCQ, the keyed option must exist and be
supported by the passage. Overall reward: a deterministic proxy for usefulness (a specific
question, an answer that says more than the question) plus diversity against the examples
already kept for the document. Both are in [0, 1].
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import combinations

from mbdg_assets.generate.facts import fact_figures, numbered_labels
from mbdg_assets.validate.grounding import lexical_grounding
from mbdg_assets.llm.prompts import QUESTION_NAMES, SCHEMAS, PromptTemplate, load_template
from mbdg_assets.shared.text import content_stems, content_words, jaccard, numbers, normalized_text, repetition_ratio, words

FIELD_WEIGHT = 0.7
OVERALL_WEIGHT = 0.3
MAX_REPETITION = 0.3      # a share of repeated word 3-grams above this reads as a generation loop
MAX_OPTION_OVERLAP = 0.8  # two MCQ options sharing more of their words than this are the same option
MIN_TASK_WORDS = 3        # "List the steps." is a task; "Safety limits" is a heading
MIN_FACT_FOCUS = 0.5      # extractive: a question below this does not lead to its fact and cannot win
MAX_RESTATED = 0.8        # extractive, a fact without key value: a question holding this much of it asks nothing
MAX_FOREIGN_SHARE = 0.2   # extractive: more of a question's words from nowhere (not fact, passage, asking words) invents
_ASKED_ATTRIBUTE = re.compile(r"^\s*(?:what|which)\s+(?:(?:is|was|are)\s+)?(?:the\s+)?(\w+)", re.I)
_POSSESSIVE = re.compile(r"(?<=\w)['’]s?\b")
# A question that asks for a number, amount or time ("How many ...", "What is the response time ...").
_ASKS_FOR_FIGURE = re.compile(
    r"^\s*(?:how (?:many|much|long|often|soon|quickly|far|heavy|high|hot|old|big|large)\b|"
    r"(?:at |by |until )?what (?:percentage|share|temperature|time|number|amount|size|price)\b)"
    r"|\bwhat is the [\w\s-]*?\b(?:time|number|amount|percentage|temperature|price|cost|weight|size)\b", re.I)
FOCUS_WORDS = 3           # question words shared with the fact (beyond its answer) for full focus
# Words a question may use that neither the fact nor the passage contains ("How long does it take ...").
ASKING_WORDS = frozenset(content_stems(
    "long many much often soon quickly time take takes need needs happen happens kind type main purpose mean means "
    "role step first last rule required allowed usually each every size amount number total maximum minimum"))
_INTERROGATIVES = frozenset(
    "what who whom whose which when where why how is are was were do does did can could should would will shall may "
    "might must has have had".split())
_IMPERATIVES = frozenset(
    "explain describe list summarize summarise give write compare contrast name identify outline define state tell "
    "show find calculate compute determine draft create provide suggest translate rewrite classify extract evaluate "
    "assess recommend propose convert rank sort estimate plan prepare design choose select match complete answer "
    "walk help check verify imagine discuss illustrate justify analyse analyze predict rephrase paraphrase".split())


@dataclass(frozen=True)
class Reward:
    field: float
    overall: float
    total: float
    detail: dict


def hybrid_reward(field: float, overall: float, field_weight: float = FIELD_WEIGHT) -> float:
    """field_weight x field + (1 - field_weight) x overall, rounded to 4 places."""
    return round(field_weight * field + (1.0 - field_weight) * overall, 4)


def _string_checks(value: str, spec: dict) -> dict[str, float]:
    if not value.strip() and spec.get("minLength", 0) == 0:
        return {"present": 1.0}  # an optional field left empty is fine
    return {
        "present": float(bool(value.strip())),
        "length": float(spec.get("minLength", 0) <= len(value) <= spec.get("maxLength", 10**9)),
        "no_loop": float(repetition_ratio(value) <= MAX_REPETITION),
    }


def _distinct(texts: list[str]) -> float:
    words = [set(content_words(t)) or {t.strip().lower()} for t in texts]
    return float(all(jaccard(a, b) < MAX_OPTION_OVERLAP for a, b in combinations(words, 2)))


def _options_checks(value: dict) -> dict[str, float]:
    texts = [v for v in value.values() if isinstance(v, str)]
    return {"present": float(len(texts) == len(value) and all(t.strip() for t in texts)), "distinct": _distinct(texts)}


def _turn_checks(value: list) -> dict[str, float]:
    roles = [m.get("role") for m in value if isinstance(m, dict)]
    alternating = roles[:1] == ["user"] and roles[-1:] == ["assistant"] and all(a != b for a, b in zip(roles, roles[1:]))
    text = " ".join(m.get("content", "") for m in value if isinstance(m, dict))
    return {"present": float(bool(value)), "alternating": float(alternating),
            "no_loop": float(repetition_ratio(text) <= MAX_REPETITION)}


def _field_checks(name: str, value: object, spec: dict) -> dict[str, float]:
    if isinstance(value, str):
        checks = _string_checks(value, spec)
        if "enum" in spec:
            checks = {"present": float(value in spec["enum"])}
        return checks
    if isinstance(value, dict):
        return _options_checks(value)
    if isinstance(value, list):
        return _turn_checks(value)
    return {"present": 0.0}


def _without_numbering(tokens: list[str]) -> list[str]:
    """'3.2 Safety limits' and 'Safety limits' are the same heading."""
    while tokens and (tokens[0][:1].isdigit() or tokens[0] in {"i", "ii", "iii", "iv", "v", "vi"}):
        tokens = tokens[1:]
    return tokens


def _opens_with_task(question: str) -> bool:
    """An interrogative or imperative first word, after an optional 'please' or a short lead-in
    clause ('Based on the policy, what ...', 'Using the passage, explain ...')."""
    openings = [words(question)]
    head, comma, tail = question.partition(",")
    if comma and len(words(head)) <= 8:
        openings.append(words(tail))
    for tokens in openings:
        tokens = tokens[1:] if tokens[:1] == ["please"] else tokens
        if tokens and (tokens[0] in _INTERROGATIVES or tokens[0] in _IMPERATIVES):
            return True
    return False


def task_form(question: str, heading_path: tuple[str, ...] | list[str] = ()) -> tuple[float, str | None]:
    """1.0 when the question field asks something: a question mark (or a ___ blank), or an
    interrogative / imperative opening, and at least MIN_TASK_WORDS words; else 0.0 and why.
    Small models often copy the section heading ('Installation', '3.2 Safety limits') into the
    question: a record that asks nothing teaches nothing. A heading copy phrased as a question
    ('How do I reset my password?', an FAQ heading) is a real question and passes."""
    tokens = words(question)
    shown = " ".join(question.split())[:60]
    if not tokens:
        return 0.0, "the question is empty"
    asks = "?" in question or "___" in question
    headings = [h for h in heading_path if h] + ([" ".join(heading_path)] if len(heading_path) > 1 else [])
    if not asks and _without_numbering(tokens) in [_without_numbering(words(h)) for h in headings]:
        return 0.0, f"the question is a copy of the section heading ({shown!r})"
    if not asks and not _opens_with_task(question):
        return 0.0, f"not a question or task: no question mark and no interrogative or imperative opening ({shown!r})"
    if len(tokens) < MIN_TASK_WORDS:
        return 0.0, f"too short to be a question or task ({len(tokens)} word(s): {shown!r})"
    return 1.0, None


def fact_focus(question: str, fact: str, span: str | None, source: str) -> tuple[float, str | None]:
    """How well an extractive question leads to its fact, in [0, 1], and why it is 0 when it is.
    It must share words with the fact beyond the answer (FOCUS_WORDS for full marks), must not
    state the fact's key value or a figure of the fact (the answer's, which gives it away, or
    another one, which asks about something else: "How long does a 15-minute response take?"),
    must not ask for a figure its fact has none of ("What is the response time of ...?" for a
    sentence without one) or for a numbered label it lacks ("What is the severity of ...?"), must
    not restate a sentence without key value (it then asks nothing), must not talk about the prompt instead of the passage ("Why is the
    sentence in the passage ...?": words of mbdg's own instructions that the passage lacks), and
    must not invent: over MAX_FOREIGN_SHARE of its words found neither in the fact, nor the
    passage, nor the few words questions ask with ("... using a microwave?") is a made-up premise."""
    question, source = _POSSESSIVE.sub("", question), _POSSESSIVE.sub("", source)  # "commander's" is "commander"
    asked = set(content_stems(question))
    if not asked:
        return 0.0, "the question is empty"
    answer = set(content_stems(span or ""))
    stated = numbers(question) & (numbers(span or "") | fact_figures(fact))
    if stated or (span and normalized_text(span) in normalized_text(question)):
        return 0.0, f"the question states its answer ({', '.join(sorted(stated)) or span})"
    foreign_figures = numbers(question) - numbers(fact)
    foreign_figures |= fact_figures(question, labels=False) - fact_figures(fact)  # "within 1 minute" where "severity 1" is no value
    if foreign_figures:  # from elsewhere in the passage it asks about another sentence; from nowhere, it invents
        return 0.0, f"the question has figures its fact does not ({', '.join(sorted(foreign_figures))})"
    if _ASKS_FOR_FIGURE.search(question) and not numbers(fact):
        return 0.0, "the question asks for a figure its fact does not give"
    if (label := asked_label(question, source)) and not numbered_labels(fact, label):
        return 0.0, f"the question asks for a {label} its fact does not give"
    rest = set(content_stems(fact)) - answer
    if not span and rest and len(asked & rest) / len(rest) >= MAX_RESTATED:
        return 0.0, "the question restates its answer (a sentence without a key value)"
    shared = len(asked & rest) / min(FOCUS_WORDS, len(rest)) if rest else 0.0
    foreign = asked - (rest | answer | set(content_stems(source)) | ASKING_WORDS)
    if foreign & _prompt_stems():
        return 0.0, f"the question talks about the prompt, not the passage ({', '.join(sorted(foreign & _prompt_stems()))})"
    if len(foreign) / len(asked) > MAX_FOREIGN_SHARE:
        return 0.0, f"the question invents content the passage lacks ({', '.join(sorted(foreign))})"
    score = round(min(shared, 1.0) * (1.0 - len(foreign) / len(asked)), 4)
    return score, None if score >= MIN_FACT_FOCUS else f"the question does not lead to its fact (focus {score})"


def asked_label(question: str, source: str) -> str | None:
    """The attribute a "What is the X ...?" / "Which X ...?" question asks for, when the passage
    uses X as a numbered label ("severity 1", "step 4"): the answer must then give such a label."""
    asked = _ASKED_ATTRIBUTE.match(question)
    word = asked.group(1).lower() if asked else ""
    return word if word and numbered_labels(source, word) else None


@functools.cache
def _prompt_stems() -> frozenset[str]:
    """Content words of the extractive question prompt's own instructions (placeholders left out)."""
    template = load_template("instruction_pair", "extractive")
    return frozenset(content_stems(re.sub(r"\{+\w+\}+", " ", f"{template.system} {template.user}")))


def asks_a_task(template: PromptTemplate) -> bool:
    """Whether the question field is meant to hold a question: every built-in schema; a user's
    schema only when its question field has a question-like name (else it may be a title)."""
    return template.schema_name in SCHEMAS or template.question_field.lower() in QUESTION_NAMES


def _field_score(checks: dict[str, float]) -> float:
    """Mean of the form checks, times grounding where measured: a fluent, well-formed answer that
    the passage does not support must not outscore a plainer, supported one; likewise times the
    fact focus of an extractive question (a question that does not lead to its fact is no use,
    however well formed)."""
    form = [v for k, v in checks.items() if k not in ("grounded", "fact_focus")]
    return sum(form) / len(form) * checks.get("grounded", 1.0) * checks.get("fact_focus", 1.0)


def field_reward(fields: dict, source: str, template: PromptTemplate, heading_path: tuple[str, ...] | list[str] = (),
                 judge: dict[str, float] | None = None, fact: tuple[str, str | None] | None = None) -> tuple[float, dict]:
    """Mean over the schema's fields of each field's score; the question field must ask
    something (task_form), `heading_path` being the passage's headings. `judge`: the optional LLM
    judge's grades in [0, 1] of the `question` and the `answer` role, one more check of each field
    in that role. `fact` (extractive answers: the fact's text and key value): the question must
    lead to it (fact_focus)."""
    per_field = {name: _field_checks(name, fields.get(name), spec)
                 for name, spec in template.json_schema["properties"].items()}
    if asks_a_task(template) and template.question_field in per_field:
        per_field[template.question_field]["task"] = task_form(template.question_of(fields), heading_path)[0]
    if fact is not None and template.question_field in per_field:
        per_field[template.question_field]["fact_focus"] = fact_focus(
            template.question_of(fields), fact[0], fact[1], source)[0]
    answer = template.answer_of(fields)
    for name in template.answer_fields:
        if per_field.get(name, {}).get("present"):
            per_field[name]["grounded"] = lexical_grounding(answer, source).score
    for role, names in (("question", (template.question_field,)), ("answer", template.answer_fields)):
        for name in names:
            if judge and role in judge and per_field.get(name, {}).get("present"):
                per_field[name]["llm_judge"] = judge[role]
    if "options" in per_field and "answer" in per_field:  # MCQ: the key must name a real option
        per_field["answer"]["keyed_option_exists"] = float(fields.get("answer") in (fields.get("options") or {}))
    scores = [_field_score(checks) for checks in per_field.values()]
    return round(sum(scores) / len(scores), 4), per_field


def overall_reward(fields: dict, kept_questions: list[str], template: PromptTemplate,
                   judge: float | None = None) -> tuple[float, dict]:
    """Specific question, answer that says more than the question, new relative to kept ones;
    plus the LLM judge's rubric grade in [0, 1] when one was asked."""
    question = set(content_words(template.question_of(fields)))
    answer = set(content_words(template.answer_of(fields)))
    nearest = max((jaccard(question, set(content_words(k))) for k in kept_questions), default=0.0)
    checks = {
        "specific": 1.0 if len(question) >= 3 else 0.5 if question else 0.0,
        "adds_information": float(bool(answer - question) and jaccard(question, answer) < 0.8),
        "diversity": round(1.0 - nearest, 4),
    }
    if judge is not None:
        checks["llm_judge"] = judge
    return round(sum(checks.values()) / len(checks), 4), checks


def score_candidate(fields: dict, source: str, template: PromptTemplate, kept_questions: list[str],
                    field_weight: float = FIELD_WEIGHT, judge: float | None = None,
                    heading_path: tuple[str, ...] | list[str] = (), field_judge: dict[str, float] | None = None,
                    fact: tuple[str, str | None] | None = None) -> Reward:
    field, field_detail = field_reward(fields, source, template, heading_path, field_judge, fact)
    overall, overall_detail = overall_reward(fields, kept_questions, template, judge)
    detail = {"field": field_detail, "overall": overall_detail}
    return Reward(field, overall, hybrid_reward(field, overall, field_weight), detail)
