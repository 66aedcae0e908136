"""The hybrid reward that picks the best of K candidates: 0.7 x field reward + 0.3 x overall.

Field reward: deterministic checks per field (present and typed, inside the schema's length band,
no repetition loop; options all different; conversation turns alternating), an answer field's
score multiplied by its grounding in the passage; for MCQ, the keyed option must exist and be
supported by the passage. Overall reward: a deterministic proxy for usefulness (a specific
question, an answer that says more than the question) plus diversity against the examples
already kept for the document. Both are in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from .grounding import lexical_grounding
from .prompts import PromptTemplate
from .text import content_words, jaccard, repetition_ratio

FIELD_WEIGHT = 0.7
OVERALL_WEIGHT = 0.3
MAX_REPETITION = 0.3      # a share of repeated word 3-grams above this reads as a generation loop
MAX_OPTION_OVERLAP = 0.8  # two MCQ options sharing more of their words than this are the same option


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


def _field_score(checks: dict[str, float]) -> float:
    """Mean of the form checks, times grounding where measured: a fluent, well-formed answer that
    the passage does not support must not outscore a plainer, supported one."""
    form = [v for k, v in checks.items() if k != "grounded"]
    return sum(form) / len(form) * checks.get("grounded", 1.0)


def field_reward(fields: dict, source: str, template: PromptTemplate) -> tuple[float, dict]:
    """Mean over the schema's fields of each field's score."""
    per_field = {name: _field_checks(name, fields.get(name), spec)
                 for name, spec in template.json_schema["properties"].items()}
    answer = template.answer_of(fields)
    for name in template.answer_fields:
        if per_field.get(name, {}).get("present"):
            per_field[name]["grounded"] = lexical_grounding(answer, source).score
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
                    field_weight: float = FIELD_WEIGHT, judge: float | None = None) -> Reward:
    field, field_detail = field_reward(fields, source, template)
    overall, overall_detail = overall_reward(fields, kept_questions, template, judge)
    detail = {"field": field_detail, "overall": overall_detail}
    return Reward(field, overall, hybrid_reward(field, overall, field_weight), detail)
