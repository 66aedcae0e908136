"""A 200-document server run (mbdg run's prepare lane over slices of 8, 16, 32, 64, 64 and 16
documents, one generate run with one request pool) killed with SIGKILL mid-generation and
started again: no finished model call is asked again, and the dataset ends with every record once.
Its embeddings come from a server too (one that outlives both runs, as a team's would), which
keeps the test's time on what it is about: the local model's path is the lanes test's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from fake_llm_servers import OPENAI_EMBED_PATH, Scripted, instruction_pair_responder, running_fake_llm_server
from mbdg_assets.llm import journal

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = 200
KILL_AFTER = 200  # requests the server has received when the run is killed: half of them


def _key(messages: list, seed: int) -> str:
    return json.dumps([messages, seed], sort_keys=True)


def _command(tmp_path: Path, url: str, embed_url: str) -> list[str]:
    return [sys.executable, "-m", "mbdg_assets.cli.main", "run", str(tmp_path / "docs"), "--out", str(tmp_path / "out"),
            "--project", str(tmp_path / "project"), "--backend", "openai", "--model", "fake", "--host", url,
            "--k", "2", "--max-targets", "1", "--kinds", "base", "--concurrency", "16",
            "--embed-backend", "openai", "--embed-host", embed_url, "--embed-model", "fake-embed"]


def _finished_calls(warehouse: Path) -> set[str]:
    """The answers the killed run kept: committed to the cache, or in its answer journal (received
    while the call held its slot, not yet committed: the rerun commits them before asking)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        texts = [text for (text,) in con.execute("SELECT request_json FROM llm_calls").fetchall()]
    for segment in warehouse.with_name("llm_journal").glob("*.jsonl"):
        texts += [row[3] for row in journal.rows_of(segment.read_text())]
    return {_key(r["messages"], r["seed"]) for r in map(json.loads, texts)}


def test_killed_200_document_run_resumes_without_repeats_or_gaps(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scale import write_documents

    write_documents(tmp_path / "docs", DOCUMENTS)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    answer = instruction_pair_responder()
    with running_fake_llm_server() as embedder:
        embedder.embed_dimension = 384
        embed_url = embedder.openai_base_url
        with running_fake_llm_server() as server:
            server.responder = lambda body: Scripted(content=answer(body).content, delay=0.2)
            process = subprocess.Popen(_command(tmp_path, server.openai_base_url, embed_url), cwd=ROOT, env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 600
            while len(server.requests) < KILL_AFTER and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert len(server.requests) >= KILL_AFTER, "the run never got far enough into generation"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finished = _finished_calls(tmp_path / "project" / "warehouse.duckdb")
        assert 0 < len(finished) < DOCUMENTS * 2  # killed in the middle, with answers already kept

        with running_fake_llm_server() as server:
            server.responder = lambda body: Scripted(content=answer(body).content)
            rerun = subprocess.run(_command(tmp_path, server.openai_base_url, embed_url), cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=900)
            assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
            asked_again = [_key(r.body["messages"], r.body["seed"]) for r in server.requests]
        assert embedder.requests and all(r.path == OPENAI_EMBED_PATH for r in embedder.requests)  # embeddings from the server
    assert not set(asked_again) & finished  # no finished call was repeated
    assert len(asked_again) == len(set(asked_again))
    assert len(finished) + len(asked_again) == DOCUMENTS * 2  # every call made exactly once over both runs
    with duckdb.connect(str(tmp_path / "project" / "warehouse.duckdb"), read_only=True) as con:
        per_document = con.execute("SELECT count(*), count(DISTINCT path) FROM candidates").fetchone()
        records = con.execute("SELECT count(*), count(DISTINCT record_id) FROM records").fetchone()
        winners = con.execute("SELECT count(*) FROM candidates WHERE is_winner").fetchone()[0]
    assert per_document == (DOCUMENTS * 2, DOCUMENTS)
    assert records[0] == records[1] == winners  # each winner validated once, none missing or doubled
