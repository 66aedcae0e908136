"""The answer journal: a pooled call's answer is safe against a kill before its warehouse commit,
the commit does not hold the call's slot, a dead run's answers are committed by the next run,
and a live run's journal is left alone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from mbdg_assets.llm import journal
from mbdg_assets.llm.backends import Generation
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.pool import RequestPool
from mbdg_assets.storage import warehouse
from mbdg_assets.storage.warehouse import WarehouseGate

ROOT = Path(__file__).resolve().parents[2]


class _Answering:
    """An in-process model that answers at once and records its calls in order."""

    backend, model = "fake", "fake"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def generate(self, messages: list[dict[str, str]], **_options) -> Generation:
        self.asked.append(messages[-1]["content"])
        return Generation(text=f"answer to {messages[-1]['content']}", raw="", error=None)


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"}]


def _stored(path: Path) -> int:
    with warehouse.connect(path) as con:
        return con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]


def test_the_next_call_goes_out_while_an_answer_waits_for_its_commit_and_after_it_is_journaled(tmp_path: Path):
    """One slot. The first answer's warehouse commit is held until the second call has reached the
    model: the slot was free meanwhile. The first answer was already in the journal when the
    second call went out, and its caller gets it only once the commit is done."""
    model, path = _Answering(), tmp_path / "warehouse.duckdb"
    second_asked, seen_in_journal = threading.Event(), []
    with RequestPool([model], concurrency=1) as pool, WarehouseGate(path) as gate, CachedLLM(pool, gate) as cached:
        keep = cached._keep

        def slow_keep(row: list) -> None:
            if row[4] == "answer to question 1":
                assert second_asked.wait(timeout=5), "the second call never got the slot"
                seen_in_journal.append(_journal_text(tmp_path))
            keep(row)
        cached._keep = slow_keep
        first = pool.submit(cached.generate, _messages(1))
        while not model.asked:
            time.sleep(0.01)
        pool.submit(lambda: (cached.generate(_messages(2)), second_asked.set())).result(timeout=10)
        assert first.result(timeout=10).text == "answer to question 1"
    assert "answer to question 1" in seen_in_journal[0]
    assert model.asked == ["question 1", "question 2"]
    assert _stored(path) == 2
    assert _journal_text(tmp_path) == ""  # all committed: the journal is gone


def _journal_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "llm_journal").glob("*.jsonl")))


KILLED_AFTER_JOURNAL = """
import os, signal, sys
from datetime import datetime, timezone
from mbdg_assets.llm.journal import AnswerJournal
journal = AnswerJournal(sys.argv[1])
journal.write(["key-1", "fake", "fake", "{}", "kept answer", 3, 4, 0.5, datetime.now(timezone.utc)])
sys.stdout.write("written\\n"); sys.stdout.flush()
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # a live run: holds its journal until told to end
"""


def test_a_killed_runs_journaled_answer_is_committed_by_the_next_run_and_not_asked_again(tmp_path: Path):
    directory = tmp_path / "llm_journal"
    died = subprocess.run([sys.executable, "-c", KILLED_AFTER_JOURNAL, str(directory), "kill"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == -9 and died.stdout == "written\n", died.stderr[-2000:]
    with (directory / "torn.jsonl").open("w") as torn:
        torn.write('["key-2", "fake", "fa')  # the kill came mid-write: the line is skipped, not fatal
    path = tmp_path / "warehouse.duckdb"
    model = _Answering()
    with RequestPool([model], concurrency=1) as pool, WarehouseGate(path) as gate, CachedLLM(pool, gate) as cached:
        assert cached.recovered == 1
    with warehouse.connect(path) as con:
        row = con.execute("SELECT cache_key, text, prompt_tokens, completion_tokens FROM llm_calls").fetchall()
    assert row == [("key-1", "kept answer", 3, 4)]
    assert list(directory.glob("*.jsonl")) == []  # taken over and deleted


def test_a_live_runs_journal_is_left_alone(tmp_path: Path):
    directory = tmp_path / "llm_journal"
    live = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_JOURNAL, str(directory), "live"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline() == "written\n"
        taken: list = []
        assert journal.recover(directory, taken.extend) == 0
        assert taken == [] and len(list(directory.glob("*.jsonl"))) == 1
    finally:
        live.communicate("", timeout=30)
    assert journal.recover(directory, taken.extend) == 1  # ended without closing it: now it is a dead run's
    assert taken[0][4] == "kept answer"


def test_committed_segments_are_deleted_so_the_journal_stays_short(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(journal, "SEGMENT_ANSWERS", 2)
    answers = journal.AnswerJournal(tmp_path)
    segments = [answers.write([f"key-{i}", "b", "m", "{}", "text", 1, 1, 0.1, "2026-01-01T00:00:00"]) for i in range(5)]
    assert segments == [0, 0, 1, 1, 2] and len(list(tmp_path.glob("*.jsonl"))) == 3
    for segment in segments[:4]:
        answers.committed(segment)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1  # the two full, committed segments are gone
    answers.close()
    assert len(list(tmp_path.glob("*.jsonl"))) == 1  # one answer not committed: kept for the next run
    assert journal.recover(tmp_path, lambda rows: None) == 1
