"""From a combined score to a decision. Scores are rounded to 4 places first so 0.9 computed as
0.8999999999 is still 0.90 and lands where a reader expects."""

from __future__ import annotations

from dataclasses import dataclass

AUTO_APPROVE = "AUTO_APPROVE"
REQUIRE_REVIEW = "REQUIRE_REVIEW"
AUTO_REJECT = "AUTO_REJECT"
DECISIONS = (AUTO_APPROVE, REQUIRE_REVIEW, AUTO_REJECT)
STAGES = ("schema", "distribution", "dedup", "grounding", "novelty")  # the scored stages, in the order they run


@dataclass(frozen=True)
class Thresholds:
    approve: float = 0.90  # score >= approve: AUTO_APPROVE
    review: float = 0.70   # review <= score < approve: REQUIRE_REVIEW; below: AUTO_REJECT

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.approve <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= review ({self.review}) <= approve ({self.approve}) <= 1")


def decide(score: float, thresholds: Thresholds = Thresholds(), hard_fail: bool = False, review: bool = False) -> str:
    """A hard failure (schema breach, duplicate, ungrounded answer) rejects whatever the score; a
    finding a person must see (a word replaced in a near-verbatim claim) keeps it from AUTO_APPROVE."""
    score = round(score, 4)
    if hard_fail or score < thresholds.review:
        return AUTO_REJECT
    return AUTO_APPROVE if score >= thresholds.approve and not review else REQUIRE_REVIEW
