"""Generate until N records pass validation, or a budget is spent: the arithmetic of each round.

A round asks for more targets (spread over documents by `planning.allocate_targets`), runs them,
validates the whole dataset and counts approvals. Earlier targets are cache hits, so a round
costs only its new targets. The size of the next round comes from the approval rate seen so far,
with a margin, and never from a guess that could overshoot a call budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FIRST_ROUND_RATE = 0.5  # approvals per target assumed before any is measured
MIN_RATE = 0.05         # below this the estimate is noise; keep rounds finite and sensible
MARGIN = 1.2            # ask for 20% more than the estimate needs: a round is slow, a surplus is cheap


QUOTA_FIELDS = ("difficulty", "topic", "target_kind", "schema")


@dataclass(frozen=True)
class Quota:
    """At least `share` of the N records must have `field` == `value` (e.g. difficulty:hard=0.3)."""
    field: str
    value: str
    share: float

    def need(self, n: int) -> int:
        return math.ceil(self.share * n - 1e-9)

    @classmethod
    def parse(cls, text: str) -> Quota:
        try:
            key, share = text.rsplit("=", 1)
            field, value = key.split(":", 1)
            quota = cls(field.strip(), value.strip(), float(share))
        except ValueError:
            raise ValueError(f"quota {text!r}: write FIELD:VALUE=SHARE, e.g. difficulty:hard=0.3") from None
        if quota.field not in QUOTA_FIELDS or not 0 < quota.share <= 1 or not quota.value:
            raise ValueError(f"quota {text!r}: FIELD is one of {', '.join(QUOTA_FIELDS)} and SHARE is in (0, 1]")
        return quota


def quota_value(line: dict, field: str) -> str:
    """A record line's value for a quota field (the export's record contract)."""
    if field == "topic":
        return str(line.get("topic") or "")
    if field == "schema":
        return str(line.get("schema") or "")
    generation = line.get("generation") or {}
    return str(generation.get(field) or ("base" if field == "target_kind" else ""))


def select_records(lines: list[dict], n: int, quotas: tuple[Quota, ...] = ()) -> list[dict]:
    """The best-scored `n` lines that meet every quota as far as the lines allow: each quota's
    best matching lines first, then the best of the rest. Returned in their original order."""
    ranked = sorted(lines, key=lambda line: (-line["score"], line["record_id"]))
    chosen: dict[str, dict] = {}
    for quota in quotas:
        matching = [line for line in ranked if quota_value(line, quota.field) == quota.value]
        missing = quota.need(n) - sum(1 for line in matching if line["record_id"] in chosen)
        for line in [m for m in matching if m["record_id"] not in chosen][: max(missing, 0)]:
            chosen[line["record_id"]] = line
    for line in ranked:
        if len(chosen) >= n:
            break
        chosen.setdefault(line["record_id"], line)
    keep = set(list(chosen)[:n])
    return [line for line in lines if line["record_id"] in keep]


def quota_shortfalls(lines: list[dict], n: int, quotas: tuple[Quota, ...]) -> list[str]:
    """Quotas the approved lines cannot meet yet, as readable lines."""
    out = []
    for quota in quotas:
        have = sum(1 for line in lines if quota_value(line, quota.field) == quota.value)
        if have < quota.need(n):
            out.append(f"{quota.field}:{quota.value} has {have} of {quota.need(n)}")
    return out


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
