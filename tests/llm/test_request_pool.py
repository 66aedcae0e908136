"""The run's request pool against fake servers: endpoints share the load, a killed endpoint's
calls move to the other one, throttling lowers the in-flight limit and every throttled call is
answered once, and no warehouse connection is held while the model works."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from fake_llm_servers import Scripted, closed_port_url, running_fake_llm_server
from mbdg_assets.llm.backends import OllamaLLM, OpenAICompatibleLLM, _http_failure
from mbdg_assets.llm.pool import AdaptiveLimit, EndpointMismatch, RequestPool

ROOT = Path(__file__).resolve().parents[2]


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"}]


def _key(body: dict) -> str:
    return body["messages"][-1]["content"]


def _answer(body: dict) -> str:
    return f"answer to {_key(body)}"


def _run_all(pool: RequestPool, count: int) -> list:
    futures = [pool.submit(pool.generate, _messages(i)) for i in range(count)]
    return [f.result(timeout=120) for f in futures]


def _client(server, timeout: float = 30) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM("fake", base_url=server.openai_base_url, timeout=timeout)


def test_adaptive_limit_halves_once_per_round_trip_and_climbs_back():
    limit = AdaptiveLimit(ceiling=8, floor=2)
    starts = [limit.acquire() for _ in range(8)]
    for started in starts:  # eight 429s from requests sent together: one cut, not three
        limit.release(started, throttled=True)
    assert limit.limit == 4 and limit.cuts == 1
    limit.release(limit.acquire(), throttled=True)  # a request sent after the cut may cut again
    assert limit.limit == 2
    limit.release(limit.acquire(), throttled=True)
    assert limit.limit == 2 and limit.lowest == 2  # never below the floor
    for _ in range(60):
        limit.release(limit.acquire(), throttled=False)
    assert limit.limit == 8  # healthy answers raise it back to the ceiling, not beyond


def test_retry_after_is_read_from_a_throttling_answer():
    failure = _http_failure("openai", 429, "slow down", {"retry-after": "2.5"})
    assert failure.fault == "throttled" and failure.retry_after == 2.5
    assert _http_failure("openai", 400, "bad request", {"retry-after": "2"}).fault is None


def test_two_endpoints_share_the_load():
    with running_fake_llm_server() as a, running_fake_llm_server() as b:
        for server in (a, b):
            server.responder = lambda body: Scripted(content=_answer(body), delay=0.2)
        with RequestPool([_client(a), _client(b)], concurrency=8) as pool:
            results = _run_all(pool, 40)
        assert all(r.ok for r in results)
        assert [r.text for r in results] == [f"answer to question {i}" for i in range(40)]
        assert len(a.requests) + len(b.requests) == 40  # nothing asked twice
        for server in (a, b):  # neither idle: each carried a share and several at once
            assert len(server.requests) >= 12 and server.max_in_flight >= 3
        assert pool.facts()["calls_by_endpoint"] == {a.openai_base_url: len(a.requests), b.openai_base_url: len(b.requests)}


def test_a_killed_endpoint_hands_its_calls_to_the_other_with_nothing_lost_or_repeated():
    answered_by_a: list[str] = []
    with running_fake_llm_server() as b, ExitStack() as stack:
        a = stack.enter_context(running_fake_llm_server())

        def a_answers(body: dict) -> Scripted:
            if a.stopping.wait(0.3):
                return Scripted(delay=5)  # killed while this request was in flight: no answer
            answered_by_a.append(_key(body))
            return Scripted(content=_answer(body))

        a.responder = a_answers
        b.responder = lambda body: Scripted(content=_answer(body), delay=0.3)
        with RequestPool([_client(a), _client(b)], concurrency=8) as pool:
            futures = [pool.submit(pool.generate, _messages(i)) for i in range(60)]
            deadline = time.monotonic() + 30
            while len(answered_by_a) < 8 and time.monotonic() < deadline:
                time.sleep(0.02)
            stack.close()  # kill endpoint a mid-run
            results = [f.result(timeout=120) for f in futures]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert [r.text for r in results] == [f"answer to question {i}" for i in range(60)]
        asked_b = Counter(_key(r.body) for r in b.requests)
        assert max(asked_b.values()) == 1  # b never got a call twice
        assert not set(answered_by_a) & set(asked_b)  # a finished call is not asked again
        assert set(answered_by_a) | set(asked_b) == {f"question {i}" for i in range(60)}
        assert 8 <= len(answered_by_a) < 60 and pool.stats.rerouted >= 1


def test_throttling_lowers_the_limit_and_every_call_is_answered_once():
    count, answered = {"n": 0}, Counter()
    lock = threading.Lock()

    def half_429(body: dict) -> Scripted:
        with lock:
            count["n"] += 1
            refuse = count["n"] <= 40 and count["n"] % 2  # the first 40 requests: every other one is refused
            if not refuse:
                answered[_key(body)] += 1
        if refuse:
            return Scripted(status=429, error_body='{"error": "busy"}', headers={"Retry-After": "0.05"}, delay=0.05)
        return Scripted(content=_answer(body), delay=0.05)

    with running_fake_llm_server() as server:
        server.responder = half_429
        with RequestPool([_client(server)], concurrency=8) as pool:
            results = _run_all(pool, 120)
        assert all(r.ok for r in results)
        assert [r.text for r in results] == [f"answer to question {i}" for i in range(120)]
        assert sorted(answered.values()) == [1] * 120  # every call answered exactly once
        assert pool.stats.retries == 20  # each refusal was asked again, and counted
        assert pool.limit.lowest < 8  # the limit dropped...
        assert pool.limit.limit == 8  # ...and recovered while answers came back healthy


def test_a_dead_server_fails_the_call_with_its_reason_without_waiting():
    with RequestPool([OpenAICompatibleLLM("fake", base_url=closed_port_url(), timeout=5)], concurrency=4) as pool:
        started = time.monotonic()
        result = pool.generate(_messages(0))
    assert not result.ok and result.fault == "unreachable" and "cannot connect" in result.error
    assert time.monotonic() - started < 5


def test_endpoints_serving_different_weights_are_an_error():
    with running_fake_llm_server() as a, running_fake_llm_server() as b:
        a.models = [{"model": "m:latest", "digest": "sha256:aaa"}]
        b.models = [{"model": "m:latest", "digest": "sha256:bbb"}]
        mixed = RequestPool([OllamaLLM("m", host=a.url), OllamaLLM("m", host=b.url)], concurrency=2)
        with pytest.raises(EndpointMismatch, match="different weights"):
            _ = mixed.model_digest
        b.models = a.models
        same = RequestPool([OllamaLLM("m", host=a.url), OllamaLLM("m", host=b.url)], concurrency=2)
        assert same.model_digest == "sha256:aaa"


REVIEW_WRITE = """
import sys, time
from mbdg_assets.storage import warehouse
from mbdg_assets.review import actions
started = time.monotonic()
with warehouse.connect(sys.argv[1], wait_seconds=float(sys.argv[2])) as con:
    actions.record_decision(con, "rev-near", "approve", "tester", actions.decision_version(con, "rev-near"))
print(round(time.monotonic() - started, 2))
"""


def test_a_review_decision_is_saved_while_generation_waits_for_a_slow_model(tmp_path: Path):
    from review_fixtures import build_review_warehouse

    from mbdg_assets.enrich.chunking import chunk_document
    from mbdg_assets.extract.extraction import extract_document
    from mbdg_assets.generate.candidates import GenerationParams
    from mbdg_assets.generate.documents import generate_documents
    from mbdg_assets.llm.cache import CachedLLM
    from mbdg_assets.llm.prompts import load_template
    from mbdg_assets.storage import warehouse
    from mbdg_assets.storage.tables import replace_chunks, store_document
    from mbdg_assets.storage.warehouse import WarehouseGate

    from fake_llm_servers import instruction_pair_responder

    path = build_review_warehouse(tmp_path / "warehouse.duckdb")
    doc = extract_document(ROOT / "examples" / "docs" / "incident-policy.md")
    chunks = chunk_document(doc)
    with warehouse.connect(path) as con:
        store_document(con, doc.path, doc)
        replace_chunks(con, doc.path, chunks, [doc.title] * len(chunks))
    answer = instruction_pair_responder()
    params = GenerationParams(k=2, max_targets_per_document=2, kinds=("base",), concurrency=4)
    with running_fake_llm_server() as server:
        server.responder = lambda body: Scripted(content=answer(body).content, delay=8)
        with RequestPool([_client(server)], concurrency=4) as pool, WarehouseGate(path) as gate:
            outcome: dict = {}
            worker = threading.Thread(target=lambda: outcome.update(done=generate_documents(
                [doc.path], CachedLLM(pool, gate), gate, load_template("instruction_pair"), params, {}, None)))
            worker.start()
            deadline = time.monotonic() + 60
            while server.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.in_flight > 0, "generation never reached the model"
            review = subprocess.run([sys.executable, "-c", REVIEW_WRITE, str(path), "5"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=120)
            assert review.returncode == 0, review.stderr[-2000:]
            assert server.in_flight > 0  # the decision was saved while the model was still answering
            worker.join(timeout=120)
    assert outcome["done"].candidates == 2 * 2
    with warehouse.connect(path) as con:
        assert con.execute("SELECT decision FROM review_decisions WHERE record_id = 'rev-near'").fetchall() == [("approve",)]
        assert con.execute("SELECT count(*) FROM candidates WHERE path = ?", [doc.path]).fetchone()[0] == 4
