"""Generation throughput against a local OpenAI-compatible server with a fixed per-request latency.

Prints, per concurrency level: wall time, achieved concurrency (model time / wall), the ratio of
wall time to the ideal (total model time / concurrency; goal <= 1.10 at 8), and tokens per
accepted record with K=4. The server answers like a competent model (tests/fake_llm_servers.py),
so the figures measure mbdg's own overhead and scheduling, not a model.

    .venv/bin/python bench/bench_generation.py [--latency 0.25] [--targets 16]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_llm_servers import instruction_pair_responder, running_fake_llm_server  # noqa: E402

from mbdg_assets.enrich.chunking import chunk_document  # noqa: E402
from mbdg_assets.extract.extraction import extract_document  # noqa: E402
from mbdg_assets.generate.candidates import GenerationParams, generate_for_chunks  # noqa: E402
from mbdg_assets.llm.backends import OpenAICompatibleLLM  # noqa: E402
from mbdg_assets.llm.prompts import load_template  # noqa: E402
from mbdg_assets.validate.validator import validate_candidates  # noqa: E402


def sample_chunks(count: int) -> list[dict]:
    """Chunks of the sample documents, cut small and repeated with distinct ids up to `count`."""
    base = []
    for path in sorted((ROOT / "examples" / "docs").glob("*.md")):
        doc = extract_document(path)
        base += [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": path.name, "topic": "", "text": c.text,
                  "heading_path": list(c.heading_path)} for c in chunk_document(doc, target_tokens=75, max_tokens=150)]
    return [dict(base[i % len(base)], chunk_id=f"{base[i % len(base)]['chunk_id']}-{i}") for i in range(count)]


def serve(latency: float, port_queue, stop) -> None:
    """The server lives in its own process, so its threads don't compete with the client's for
    one interpreter lock (a real model server never shares mbdg's process)."""
    with running_fake_llm_server() as server:
        server.responder = instruction_pair_responder(delay=latency)
        port_queue.put(server.openai_base_url)
        stop.wait()


class CountingLLM:
    """Counts calls, tokens and the most requests in flight at once, on the client side."""

    def __init__(self, llm):
        self.llm, self.backend, self.model = llm, llm.backend, llm.model
        self.calls = self.tokens = self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def generate(self, messages, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        result = self.llm.generate(messages, **kwargs)
        with self.lock:
            self.in_flight -= 1
            self.calls += 1
            self.tokens += result.prompt_tokens + result.completion_tokens
        return result


def run(url: str, latency: float, targets: int, concurrency: int) -> dict:
    template, chunks = load_template("instruction_pair"), sample_chunks(targets)
    params = GenerationParams(k=4, max_targets_per_document=targets, concurrency=concurrency)
    llm = CountingLLM(OpenAICompatibleLLM("bench", url))
    llm.generate([{"role": "user", "content": "warm up the connection"}], seed=-1)
    llm.calls = llm.tokens = llm.peak = 0
    started = time.perf_counter()
    candidates = generate_for_chunks(llm, template, chunks, params, "bench")
    wall = time.perf_counter() - started
    calls, peak, tokens = llm.calls, llm.peak, llm.tokens
    winners = [{"candidate_id": c.candidate_id, "fields": c.fields, "reward": c.reward, "generation": c.generation,
                "chunk": next(ch for ch in chunks if ch["chunk_id"] == c.chunk_id)} for c in candidates if c.is_winner]
    approved = sum(r.decision == "AUTO_APPROVE" for r in validate_candidates(winners, "instruction_pair", template.json_schema))
    ideal = calls * latency / concurrency
    return {"concurrency": concurrency, "calls": calls, "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal,
            "achieved": calls * latency / wall, "peak_in_flight": peak, "approved": approved,
            "tokens_per_approved": tokens / max(approved, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--targets", type=int, default=16)
    args = parser.parse_args()
    print(f"latency {args.latency:.2f}s per request, {args.targets} targets x K=4")
    print("concurrency  calls  wall_s  ideal_s  wall/ideal  achieved  peak  approved  tokens/approved")
    port_queue, stop = multiprocessing.Queue(), multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.latency, port_queue, stop), daemon=True)
    server.start()
    url = port_queue.get(timeout=30)
    try:
        for concurrency in (1, 4, 8, 16):
            report(run(url, args.latency, args.targets, concurrency))
    finally:
        stop.set()
        server.join(timeout=10)


def report(r: dict) -> None:
    print(f"{r['concurrency']:>11}  {r['calls']:>5}  {r['wall_s']:>6.2f}  {r['ideal_s']:>7.2f}  {r['ratio']:>10.3f}  "
          f"{r['achieved']:>8.2f}  {r['peak_in_flight']:>4}  {r['approved']:>8}  {r['tokens_per_approved']:>15.0f}")


if __name__ == "__main__":
    main()
