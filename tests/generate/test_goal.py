"""`mbdg run --records N`: rounds until N records are approved or a budget is spent; the dataset
holds exactly N; a rerun makes no model call; the report says how many and why."""

import json
import re
from pathlib import Path

import pytest

from fake_llm_servers import instruction_pair_responder, running_fake_llm_server
from mbdg_assets.export.selection import select_records
from mbdg_assets.generate.goal_rounds import Goal, GoalReport, extra_targets, stop_reason
from mbdg_assets.shared.quotas import Quota, quota_shortfalls

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"


def test_next_round_is_sized_by_the_approval_rate_and_capped_by_the_call_budget():
    goal = Goal(records=20)
    assert extra_targets(goal, 0, 0, 4, 0) == 48          # nothing measured yet: assume half pass, 20% margin
    assert extra_targets(goal, 10, 40, 4, 160) == 48      # 10 of 40 passed: 10 more need ~40, plus the margin
    assert extra_targets(goal, 20, 40, 4, 160) == 0
    assert extra_targets(Goal(20, max_calls=100), 0, 10, 4, 80) == 5  # 20 calls left, 4 per target


def test_stop_reasons_say_why():
    goal = Goal(records=10, max_calls=50, max_rounds=3)
    assert stop_reason(goal, GoalReport(10, approved=12, rounds=1, calls=20), True, 4) == "reached"
    assert "call budget of 50" in stop_reason(goal, GoalReport(10, approved=3, rounds=1, calls=48), True, 4)
    assert "no more targets" in stop_reason(goal, GoalReport(10, approved=3, rounds=1, calls=20), False, 4)
    assert "after 3 rounds" in stop_reason(goal, GoalReport(10, approved=3, rounds=3, calls=20), True, 4)
    assert stop_reason(goal, GoalReport(10, approved=3, rounds=1, calls=20), True, 4) == ""
    assert "answered no call in round 2: HTTP 500" in stop_reason(goal, GoalReport(10, rounds=2), True, 4, "HTTP 500")
    assert GoalReport(10, approved=12, rounds=2, targets=30, calls=120, stopped="reached").line().startswith(
        "asked for 10 records, got 10 after 2 round(s)")


def _run(tmp_path: Path, url: str, goal: Goal):
    from mbdg_assets.cli.run import run_pipeline
    from resources import LLMResource

    generate = {"schema_name": "instruction_pair", "k": 2, "seed": 0, "concurrency": 4}
    return run_pipeline(EXAMPLES, tmp_path / "out", tmp_path / "project", LLMResource(backend="openai", model="fake", host=url),
                        generate, lambda _line: None, goal)


@pytest.mark.slow
def test_rounds_until_n_approved_then_exactly_n_exported_and_a_rerun_is_free(tmp_path: Path):
    with running_fake_llm_server() as server:
        server.responder = instruction_pair_responder()
        summary = _run(tmp_path, server.openai_base_url, Goal(records=6))
        report = summary.goal
        assert report.stopped == "reached" and report.approved >= 6 and report.calls == len(server.requests)
        dataset = [json.loads(line) for line in (tmp_path / "out" / "dataset.jsonl").read_text().splitlines()]
        surplus = (tmp_path / "out" / "surplus.jsonl")
        assert len(dataset) == 6 and len({r["record_id"] for r in dataset}) == 6
        extra = [json.loads(line) for line in surplus.read_text().splitlines()] if surplus.exists() else []
        assert len(extra) == report.approved - 6
        assert min(r["score"] for r in dataset) >= max((r["score"] for r in extra), default=0.0)
        calls_before = len(server.requests)
        again = _run(tmp_path, server.openai_base_url, Goal(records=6)).goal
        assert len(server.requests) == calls_before and again.calls == 0 and again.approved == report.approved


@pytest.mark.slow
def test_a_call_budget_ends_the_run_and_says_so(tmp_path: Path):
    with running_fake_llm_server() as server:
        server.responder = instruction_pair_responder()
        report = _run(tmp_path, server.openai_base_url, Goal(records=500, max_calls=12)).goal
        assert "call budget of 12 spent" in report.stopped
        assert len(server.requests) <= 12 + 2  # a round is sized to the budget; only repairs may go over
        assert report.approved < 500


def _line(i: int, score: float, difficulty: str, topic: str = "t") -> dict:
    return {"record_id": f"r{i}", "score": score, "topic": topic, "schema": "instruction_pair",
            "generation": {"difficulty": difficulty, "target_kind": "base"}}


def test_quotas_pick_the_best_matching_records_first_then_the_best_of_the_rest():
    lines = [_line(i, 1 - i / 10, "hard" if i >= 6 else "easy", "b" if i % 3 == 0 else "a") for i in range(10)]
    quotas = (Quota.parse("difficulty:hard=0.5"), Quota.parse("topic:b=0.5"))
    chosen = select_records(lines, 4, quotas)
    assert {line["record_id"] for line in chosen} == {"r0", "r1", "r6", "r7"}  # hard: r6 r7; topic b: r0 r6
    assert [line["record_id"] for line in select_records(lines, 3)] == ["r0", "r1", "r2"]
    assert quota_shortfalls(lines, 10, (Quota.parse("difficulty:hard=0.5"),)) == ["difficulty:hard has 4 of 5"]
    assert quota_shortfalls(lines, 8, (Quota.parse("difficulty:hard=0.5"),)) == []


def test_a_bad_quota_is_a_clear_error():
    for text, message in [("hard=0.3", "FIELD:VALUE=SHARE"), ("colour:red=0.3", "one of difficulty"),
                          ("difficulty:hard=1.5", "in (0, 1]"), ("difficulty:hard=x", "FIELD:VALUE=SHARE")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            Quota.parse(text)
    from click.testing import CliRunner

    from mbdg_assets.cli.main import main

    result = CliRunner().invoke(main, ["run", str(EXAMPLES), "--out", "o", "--quota", "difficulty:hard=0.3"])
    assert result.exit_code == 1 and "--quota needs --records N" in result.output


def test_quotas_not_met_keep_the_loop_going():
    goal = Goal(records=10, quotas=(Quota.parse("difficulty:hard=0.3"),))
    short = GoalReport(10, approved=12, rounds=1, calls=40, shortfalls=["difficulty:hard has 1 of 3"])
    assert stop_reason(goal, short, True, 4) == "" and extra_targets(goal, 12, 20, 4, 40, quota_short=True) > 0
    assert "quotas short: difficulty:hard has 1 of 3" in (short.line())


@pytest.mark.slow
def test_a_dead_server_ends_the_rounds_with_its_error(tmp_path: Path):
    from fake_llm_servers import closed_port_url

    report = _run(tmp_path, closed_port_url(), Goal(records=5)).goal
    assert report.rounds == 1 and report.approved == 0  # no second, bigger round against a dead server
    assert "the model answered no call in round 1" in report.stopped and "cannot connect" in report.stopped
