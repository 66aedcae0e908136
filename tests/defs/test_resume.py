"""A run killed with SIGKILL mid-generation and started again redoes no finished model call and
ends with a complete dataset without duplicates."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from fake_llm_servers import Scripted, instruction_pair_responder, running_fake_llm_server

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "docs"
COMPLETED_BEFORE_KILL = 5


def _key(body: dict) -> str:
    return json.dumps([body["messages"], body.get("seed")], sort_keys=True)


def _command(tmp_path: Path, url: str) -> list[str]:
    cli = str(Path(sys.executable).with_name("mbdg"))
    return [cli, "run", str(EXAMPLES), "--out", str(tmp_path / "out"), "--project", str(tmp_path / "project"),
            "--backend", "openai", "--model", "fake", "--host", url, "--k", "2", "--max-targets", "3",
            "--concurrency", "1"]


def _holding_responder(server, answer):
    """Answers the first COMPLETED_BEFORE_KILL requests, then holds the next one open."""
    def respond(body):
        if len(server.requests) > COMPLETED_BEFORE_KILL:
            return Scripted(delay=60)
        return answer(body)
    return respond


def test_killed_run_resumes_without_repeating_finished_calls(tmp_path: Path):
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    answer = instruction_pair_responder()
    with running_fake_llm_server() as server:
        server.responder = _holding_responder(server, answer)
        process = subprocess.Popen(_command(tmp_path, server.openai_base_url), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while len(server.requests) <= COMPLETED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(server.requests) > COMPLETED_BEFORE_KILL, "the run never reached the model"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        finished = {_key(r.body) for r in server.requests[:COMPLETED_BEFORE_KILL]}

    with running_fake_llm_server() as server:
        server.responder = answer
        rerun = subprocess.run(_command(tmp_path, server.openai_base_url), env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        repeated = finished & {_key(r.body) for r in server.requests}
    assert repeated == set()

    with duckdb.connect(str(tmp_path / "project" / "warehouse.duckdb"), read_only=True) as con:
        targets = con.execute("SELECT count(DISTINCT target_id) FROM candidates").fetchone()[0]
        per_target = con.execute("SELECT min(n), max(n) FROM (SELECT count(*) n FROM candidates GROUP BY target_id)").fetchone()
        records = con.execute("SELECT count(*), count(DISTINCT record_id), count(DISTINCT candidate_id) FROM records").fetchone()
    assert per_target == (2, 2)            # every target has exactly K candidates: no gaps, no extras
    assert records == (targets, targets, targets)  # one record per target, none twice
    lines = (tmp_path / "out" / "dataset.jsonl").read_text().splitlines() + (tmp_path / "out" / "review.jsonl").read_text().splitlines() \
        + (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()
    ids = [json.loads(line)["record_id"] for line in lines]
    assert len(ids) == len(set(ids)) == targets
