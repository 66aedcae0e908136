"""Generate until N records pass validation, or a budget is spent: the arithmetic of each round.

A round asks for more targets (spread over documents by `planning.allocate_targets`), runs them,
validates the whole dataset and counts approvals. Earlier targets are cache hits, so a round
costs only its new targets. The size of the next round comes from the approval rate seen so far,
with a margin, and never from a guess that could overshoot a call budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mbdg_assets.shared.quotas import Quota

FIRST_ROUND_RATE = 0.5  # approvals per target assumed before any is measured
MIN_RATE = 0.05         # below this the estimate is noise; keep rounds finite and sensible
MARGIN = 1.2            # ask for 20% more than the estimate needs: a round is slow, a surplus is cheap


@dataclass(frozen=True)
class Goal:
    records: int            # approved records wanted
    max_calls: int = 0      # new model calls this run may make (0: no limit)
    max_rounds: int = 6
    quotas: tuple[Quota, ...] = ()


@dataclass
class GoalReport:
    asked: int
    approved: int = 0
    rounds: int = 0
    targets: int = 0
    calls: int = 0
    stopped: str = ""
    shortfalls: list[str] = field(default_factory=list)  # quotas not met

    def line(self) -> str:
        got = min(self.approved, self.asked)
        quotas = f"; quotas short: {', '.join(self.shortfalls)}" if self.shortfalls else ""
        return (f"asked for {self.asked} records, got {got} after {self.rounds} round(s) "
                f"({self.targets} targets, {self.calls} new model calls): {self.stopped}{quotas}")


def extra_targets(goal: Goal, approved: int, targets: int, calls_per_target: int, calls_used: int,
                  quota_short: bool = False) -> int:
    """How many more targets the next round should ask for."""
    shortfall = goal.records - approved
    if shortfall <= 0:
        shortfall = goal.records // 10 + 1 if quota_short else 0  # enough records, not the right mix yet
    if shortfall <= 0:
        return 0
    rate = max(approved / targets, MIN_RATE) if targets else FIRST_ROUND_RATE
    extra = math.ceil(shortfall / rate * MARGIN)
    if goal.max_calls:
        extra = min(extra, max(goal.max_calls - calls_used, 0) // max(calls_per_target, 1))
    return extra


def stop_reason(goal: Goal, report: GoalReport, grew: bool, calls_per_target: int, stalled: str = "") -> str:
    """Why the loop ends now, or '' to go on. Checked after each round's validation; `grew`: the
    next round would have more targets than this one; `stalled`: why a round that asked for new
    targets got no answer from the model (a dead server must not run every round)."""
    if report.approved >= goal.records and not report.shortfalls:
        return "reached"
    if goal.max_calls and goal.max_calls - report.calls < calls_per_target:
        return f"call budget of {goal.max_calls} spent"
    if stalled:
        return f"the model answered no call in round {report.rounds}: {stalled}"
    if not grew:
        return "no more targets: every chunk has been used in every target kind (add documents or allow more kinds)"
    if report.rounds >= goal.max_rounds:
        return f"stopped after {goal.max_rounds} rounds (raise --max-rounds)"
    return ""
