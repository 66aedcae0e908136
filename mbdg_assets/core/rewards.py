"""The hybrid reward that picks the best of K candidates: 0.7 x field reward + 0.3 x overall.

Field reward: deterministic checks per field (present and typed, inside the schema's length band,
no repetition loop), the answer's score multiplied by its grounding in the passage. Overall reward: a deterministic
proxy for usefulness (a specific question, an answer that adds information) plus diversity
against the examples already kept for the document. Both are in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

from .grounding import lexical_grounding
from .text import content_words, jaccard, repetition_ratio

FIELD_WEIGHT = 0.7
OVERALL_WEIGHT = 0.3
MAX_REPETITION = 0.3      # a share of repeated word 3-grams above this reads as a generation loop
ANSWER_FIELDS = ("output",)


@dataclass(frozen=True)
class Reward:
    field: float
    overall: float
    total: float
    detail: dict


def hybrid_reward(field: float, overall: float, field_weight: float = FIELD_WEIGHT) -> float:
    """field_weight x field + (1 - field_weight) x overall, rounded to 4 places."""
    return round(field_weight * field + (1.0 - field_weight) * overall, 4)


def _length_ok(value: str, spec: dict) -> bool:
    return spec.get("minLength", 0) <= len(value) <= spec.get("maxLength", 10**9)


def _field_checks(name: str, value: object, spec: dict, source: str) -> dict[str, float]:
    if not isinstance(value, str):
        return {"present": 0.0}
    if not value.strip() and spec.get("minLength", 0) == 0:
        return {"present": 1.0}  # an optional field left empty is fine
    checks = {
        "present": float(bool(value.strip())),
        "length": float(_length_ok(value, spec)),
        "no_loop": float(repetition_ratio(value) <= MAX_REPETITION),
    }
    if name in ANSWER_FIELDS:
        checks["grounded"] = lexical_grounding(value, source).score
    return checks


def field_reward(fields: dict, source: str, json_schema: dict) -> tuple[float, dict]:
    """Mean over the schema's fields of each field's mean check score."""
    per_field = {
        name: _field_checks(name, fields.get(name), spec, source)
        for name, spec in json_schema["properties"].items()
    }
    scores = [_field_score(checks) for checks in per_field.values()]
    return round(sum(scores) / len(scores), 4), per_field


def _field_score(checks: dict[str, float]) -> float:
    """Mean of the form checks, times grounding where measured: a fluent, well-formed answer that
    the passage does not support must not outscore a plainer, supported one."""
    form = [v for k, v in checks.items() if k != "grounded"]
    return sum(form) / len(form) * checks.get("grounded", 1.0)


def overall_reward(fields: dict, kept_instructions: list[str]) -> tuple[float, dict]:
    """Specific question, answer that says more than the question, new relative to kept ones."""
    question = set(content_words(str(fields.get("instruction", ""))))
    answer = set(content_words(str(fields.get("output", ""))))
    nearest = max((jaccard(question, set(content_words(k))) for k in kept_instructions), default=0.0)
    checks = {
        "specific": 1.0 if len(question) >= 3 else 0.5 if question else 0.0,
        "adds_information": float(bool(answer - question) and jaccard(question, answer) < 0.8),
        "diversity": round(1.0 - nearest, 4),
    }
    return round(sum(checks.values()) / len(checks), 4), checks


def score_candidate(fields: dict, source: str, json_schema: dict, kept_instructions: list[str],
                    field_weight: float = FIELD_WEIGHT) -> Reward:
    field, field_detail = field_reward(fields, source, json_schema)
    overall, overall_detail = overall_reward(fields, kept_instructions)
    detail = {"field": field_detail, "overall": overall_detail}
    return Reward(field, overall, hybrid_reward(field, overall, field_weight), detail)
