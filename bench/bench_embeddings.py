"""Embedding throughput: the local all-MiniLM-L6-v2 against an embedding server (the fake one of
tests/fake_llm_servers.py, which answers instantly: what is measured is mbdg's own cost per text
for a server — HTTP, JSON, normalising — not a model's speed).

    python bench/bench_embeddings.py [--texts 2000] [--batch 64]

Prints texts per second and milliseconds per text for: local, ollama /api/embed, openai
/v1/embeddings. Chunk-sized texts (about 150 words) as enrichment embeds them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fake_llm_servers import running_fake_llm_server  # noqa: E402
from mbdg_assets.enrich.embeddings import make_embedder  # noqa: E402

WORDS = ("roast bean crack temperature grinder water bloom extraction acidity body crema espresso filter "
         "kettle scale ratio minute degree origin process washed natural honey altitude").split()


def texts(n: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(150)) + f" {i}" for i in range(n)]


def measure(name: str, embedder, batch: list[str]) -> None:
    embedder.embed(batch[:8])  # model load / connection set-up outside the timing
    started = time.perf_counter()
    vectors = embedder.embed(batch)
    seconds = time.perf_counter() - started
    print(f"{name:<8} {len(batch)} texts, dim {vectors.shape[1]}: {seconds:6.2f} s  "
          f"{len(batch) / seconds:8.0f} texts/s  {1000 * seconds / len(batch):6.2f} ms/text")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    batch = texts(args.texts)
    measure("local", make_embedder("local"), batch)
    with running_fake_llm_server() as server:
        server.embed_dimension = 384
        for backend in ("ollama", "openai"):
            measure(backend, make_embedder(backend, "fake-embed", [server.url], args.batch), batch)


if __name__ == "__main__":
    main()
