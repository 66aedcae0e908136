"""Ctrl-C (SIGINT) during a pipelined server run stops `mbdg run` within seconds: its prepare lane
and extraction workers end with it, no dataset phase runs on what happens to be there, and the
command says so with exit status 130. Dagster turns the signal into a failed step and returns, so
before this the run went on: the lane prepared every remaining slice and the dataset phase ran."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_llm_servers import Scripted, instruction_pair_responder, running_fake_llm_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = 96  # more than PIPELINE_FROM: the prepare lane runs
CONCURRENCY = 8


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_ctrl_c_stops_a_pipelined_run_with_its_prepare_lane_and_no_dataset(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scale import write_documents

    write_documents(tmp_path / "docs", DOCUMENTS)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    answer = instruction_pair_responder()
    with running_fake_llm_server() as server:
        server.embed_dimension = 384
        server.responder = lambda body: Scripted(content=answer(body).content, delay=1.0)
        url = server.openai_base_url
        command = [sys.executable, "-m", "mbdg_assets.cli.main", "run", str(tmp_path / "docs"),
                   "--out", str(tmp_path / "out"), "--project", str(tmp_path / "project"), "--backend", "openai",
                   "--model", "fake", "--host", url, "--k", "2", "--max-targets", "1", "--kinds", "base",
                   "--concurrency", str(CONCURRENCY), "--embed-backend", "openai", "--embed-host", url,
                   "--embed-model", "fake-embed"]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        chats = lambda: sum(1 for r in server.requests if r.path.endswith("/chat/completions"))  # noqa: E731
        while chats() < 2 * CONCURRENCY and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert chats() >= 2 * CONCURRENCY, "the run never got into generation"
        helpers = _descendants(process.pid)
        assert helpers, "the pipelined run has its prepare process"
        process.send_signal(signal.SIGINT)
        asked_before = chats()
        stopped = time.monotonic()
        _out, err = process.communicate(timeout=120)
        took = time.monotonic() - stopped
        asked_after = chats() - asked_before
    assert process.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert took < 15, f"stopping took {took:.1f}s"  # 5.5 s here; 27 s before, as the run went on
    assert asked_after <= CONCURRENCY  # at most what was waiting for a slot when the signal came
    assert not (tmp_path / "out" / "dataset.jsonl").exists()  # no dataset phase on a half-made corpus
    time.sleep(1)
    assert [pid for pid in helpers if _alive(pid)] == []
