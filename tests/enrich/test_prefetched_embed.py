"""PrefetchedEmbed: a block of texts embedded in one call, the rest when asked (validation embeds
its records' grounding texts this way)."""

import numpy as np

from mbdg_assets.enrich.embeddings import PrefetchedEmbed


def test_prefetched_texts_are_embedded_in_one_call_and_others_when_asked():
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    prefetched = PrefetchedEmbed(embed)
    prefetched.prefetch(["a", "bb", "a", "ccc"])
    assert calls == [["a", "bb", "ccc"]]  # one call, each text once
    assert prefetched(["bb", "a"]).tolist() == [[2.0, 1.0], [1.0, 1.0]] and len(calls) == 1
    assert prefetched(["dddd", "a"])[0].tolist() == [4.0, 1.0] and calls[-1] == ["dddd"]
    prefetched.prefetch(["e"])  # the next block replaces the last
    prefetched(["a"])
    assert calls[-2:] == [["e"], ["a"]]
