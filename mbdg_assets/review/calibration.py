"""How reviewers' decisions agree with the validator's score, and the thresholds that fit them.

Reviewed records are (almost) all REQUIRE_REVIEW, so they sit inside the review band: the data can
say where in the band reviewers flip from reject to approve, not what happens outside it. The
suggestion therefore narrows the band: approve above the lowest score from which reviewers
approved everything, reject below the highest score under which they rejected everything. A
simple sweep also finds the single cut-off that agrees with most decisions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from mbdg_assets.validate.decisions import STAGES, Thresholds
from mbdg_assets.storage.sql_files import sql_text
from mbdg_assets.storage.warehouse import fetch_dicts


ACCEPTING = ("approve", "edit")
MIN_DECISIONS = 10   # below this a suggestion would mostly reflect chance
GRID = [round(0.5 + i / 100, 2) for i in range(51)]  # 0.50 .. 1.00


@dataclass
class Calibration:
    reviewed: int
    approved: int
    rejected: int
    by_reviewer: dict[str, dict[str, int]]
    bins: list[dict]                         # score bins with approved / rejected counts
    stage_means: dict[str, dict[str, float]]  # stage -> {approved, rejected} mean score
    sweep: list[tuple[float, float]]         # (cut-off, share of decisions it agrees with)
    best_cut: float | None
    best_agreement: float | None
    current: Thresholds
    suggested: Thresholds | None
    enough: bool = False
    midpoint_agreement: float | None = None  # agreement of a cut in the middle of the current band
    notes: list[str] = field(default_factory=list)


def reviewed_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each reviewed record's latest decision with its score and stage scores."""
    return [r | {"accepted": r["review_decision"] in ACCEPTING, "stage_scores": json.loads(r["stage_scores_json"] or "{}")}
            for r in fetch_dicts(con, sql_text("review_calibration"))]


def agreement(rows: list[dict], cut: float) -> float:
    """Share of decisions that "score >= cut means approve" reproduces."""
    return sum((r["score"] >= cut) == r["accepted"] for r in rows) / len(rows) if rows else 0.0


def sweep(rows: list[dict], grid: list[float] = GRID) -> list[tuple[float, float]]:
    return [(cut, round(agreement(rows, cut), 4)) for cut in grid]


def suggest(rows: list[dict], current: Thresholds) -> Thresholds:
    """The narrowest band consistent with the decisions (see the module docstring): approve from
    where nothing was rejected any more, reject below where nothing was approved yet; scores with
    no decision between them stay in review. Never outside the current band (no data there)."""
    rejected = [r["score"] for r in rows if not r["accepted"]]
    accepted = [r["score"] for r in rows if r["accepted"]]
    above_rejects = _next_grid(max(rejected)) if rejected else None
    lowest_accept = int(min(accepted) * 100 + 1e-9) / 100 if accepted else None
    approve = max(x for x in (above_rejects, lowest_accept) if x is not None) if accepted else current.approve
    review = min(x for x in (above_rejects, lowest_accept) if x is not None) if rejected else current.review
    approve = min(max(approve, current.review), current.approve)
    review = min(max(review, current.review), approve)
    return Thresholds(approve=round(approve, 2), review=round(review, 2))


def _next_grid(score: float) -> float:
    """The smallest 0.01 step strictly above `score`."""
    return round(int(score * 100 + 1e-9) / 100 + 0.01, 2)


def _bins(rows: list[dict], width: float = 0.02) -> list[dict]:
    counts: dict[float, dict] = {}
    for r in rows:
        low = round(int(r["score"] / width + 1e-9) * width, 2)
        b = counts.setdefault(low, {"low": low, "high": round(low + width, 2), "approved": 0, "rejected": 0})
        b["approved" if r["accepted"] else "rejected"] += 1
    return [counts[k] for k in sorted(counts)]


def _stage_means(rows: list[dict]) -> dict[str, dict[str, float]]:
    means = {}
    for stage in STAGES:
        out = {}
        for label, accepted in (("approved", True), ("rejected", False)):
            values = [r["stage_scores"][stage] for r in rows if r["accepted"] == accepted and stage in r["stage_scores"]]
            out[label] = round(sum(values) / len(values), 3) if values else None
        means[stage] = out
    return means


def calibrate(rows: list[dict], current: Thresholds = Thresholds(), min_decisions: int | None = None) -> Calibration:
    """Agreement figures, the best single cut-off and suggested thresholds for `rows`."""
    min_decisions = MIN_DECISIONS if min_decisions is None else min_decisions
    by_reviewer: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = by_reviewer.setdefault(r["reviewer"] or "?", {"approved": 0, "rejected": 0})
        counts["approved" if r["accepted"] else "rejected"] += 1
    points = sweep(rows)
    best = max(points, key=lambda p: (p[1], -abs(p[0] - (current.review + current.approve) / 2))) if rows else None
    enough = len(rows) >= min_decisions
    notes = [] if enough else [f"{len(rows)} decision(s) so far; thresholds are suggested from {min_decisions} on"]
    if rows and any(r["decision"] != "REQUIRE_REVIEW" for r in rows):
        notes.append("some reviewed records were decided automatically; they count like the others")
    approved = sum(r["accepted"] for r in rows)
    return Calibration(len(rows), approved, len(rows) - approved, by_reviewer, _bins(rows), _stage_means(rows), points,
                       best[0] if best else None, best[1] if best else None, current,
                       suggest(rows, current) if enough else None, enough,
                       round(agreement(rows, (current.review + current.approve) / 2), 4) if rows else None, notes)


def run_config_hint(thresholds: Thresholds) -> str:
    """Run config that applies the thresholds to the next validation (Dagster launchpad or `-c`)."""
    return ("ops:\n  validated_records:\n    config:\n"
            f"      approve_threshold: {thresholds.approve:.2f}\n      review_threshold: {thresholds.review:.2f}\n")


def format_calibration(cal: Calibration) -> str:
    """The calibration as terminal lines (`mbdg review --calibrate`)."""
    lines = [f"reviewed: {cal.reviewed} (approved or edited {cal.approved}, rejected {cal.rejected})",
             f"current thresholds: approve {cal.current.approve:.2f}, review {cal.current.review:.2f}"]
    if cal.best_cut is not None:
        lines.append(f"best single cut-off: {cal.best_cut:.2f} agrees with {cal.best_agreement:.0%} of decisions")
        lines.append(f"cut-off in the middle of the current band agrees with {cal.midpoint_agreement:.0%}")
    lines += [f"note: {n}" for n in cal.notes]
    if cal.suggested:
        lines += [f"suggested: approve {cal.suggested.approve:.2f}, review {cal.suggested.review:.2f}",
                  "apply to the next run: Dagster launchpad (dataset_job) run config, or `dagster job execute "
                  "-m definitions -j dataset_job -c thresholds.yaml` with DAGSTER_HOME=<project>/dagster:", run_config_hint(cal.suggested)]
    return "\n".join(lines)
