"""Embeddings from a server (enrich/embedding_servers.py) against the fake server speaking Ollama's
/api/embed and the OpenAI-compatible /v1/embeddings: batching, order, throttling, dead servers,
answers that must not be stored, and the vector-space bookkeeping a model change relies on."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from mbdg_assets.enrich.embedding_servers import EmbeddingServerError, ServerEmbedder
from mbdg_assets.enrich.embeddings import make_embedder
from mbdg_assets.storage.vectors import CHUNKS_TABLE, VectorStore, table_space
from fake_llm_servers import (OLLAMA_EMBED_PATH, OPENAI_EMBED_PATH, Scripted, closed_port_url,  # noqa: F401
                                    fake_llm_server, hashed_embedding, running_fake_llm_server)

PATHS = {"ollama": OLLAMA_EMBED_PATH, "openai": OPENAI_EMBED_PATH}


def _embedder(backend: str, server, **kwargs) -> ServerEmbedder:
    return make_embedder(backend, "fake-embed", [server.url], kwargs.pop("batch_size", 4), 5.0, **kwargs)


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_batches_and_order(backend: str, fake_llm_server) -> None:
    """N texts go in ceil(N/B) requests of at most B, and each vector is its own text's, normalised
    (the OpenAI fake returns items in reverse order: they are placed by index)."""
    texts = [f"text number {i} about roasting coffee batch {i % 3}" for i in range(10)]
    embedder = _embedder(backend, fake_llm_server, batch_size=4)
    vectors = embedder.embed(texts)
    sent = [r for r in fake_llm_server.requests if r.path == PATHS[backend]]
    assert len(sent) == math.ceil(10 / 4) and sorted(len(r.body["input"]) for r in sent) == [2, 4, 4]
    assert all(r.body["model"] == "fake-embed" for r in sent)
    expected = np.asarray([hashed_embedding(t, fake_llm_server.embed_dimension) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.shape == (10, fake_llm_server.embed_dimension)
    assert np.allclose(vectors, expected, atol=1e-6)


def test_throttled_batch_waits_and_is_sent_again(fake_llm_server) -> None:
    """A 429 with Retry-After is waited out and the batch sent again: every text gets a vector."""
    fake_llm_server.script(Scripted(status=429, headers={"Retry-After": "0.3"}), Scripted(status=503))
    embedder = _embedder("ollama", fake_llm_server, batch_size=8)
    started = time.monotonic()
    vectors = embedder.embed(["one text here", "another text there"])
    assert time.monotonic() - started >= 0.3
    assert vectors.shape == (2, fake_llm_server.embed_dimension)
    assert len([r for r in fake_llm_server.requests if r.path == OLLAMA_EMBED_PATH]) == 3
    assert embedder.requests == 3


def test_dead_server_is_an_error_naming_the_url() -> None:
    url = closed_port_url()
    embedder = make_embedder("openai", "fake-embed", [url], 4, 2.0)
    with pytest.raises(EmbeddingServerError, match=url.replace(".", r"\.")):
        embedder.embed(["hello world"])


def test_a_dead_replica_hands_its_batches_to_the_live_one(fake_llm_server) -> None:
    embedder = make_embedder("ollama", "fake-embed", [closed_port_url(), fake_llm_server.url], 2, 2.0)
    assert embedder.embed([f"text {i}" for i in range(6)]).shape == (6, fake_llm_server.embed_dimension)
    assert len([r for r in fake_llm_server.requests if r.path == OLLAMA_EMBED_PATH]) == 3


@pytest.mark.parametrize("rows, message", [
    ([[1.0, 0.0]], "1 vectors for 2 texts"),
    ([[1.0, 0.0], [1.0, 0.0, 0.5]], "different lengths"),
    ([[1.0, float("nan")], [1.0, 0.0]], None),  # the fake writes NaN as json.dumps does; it must not be stored
])
def test_wrong_answers_are_errors_not_stored(fake_llm_server, rows, message) -> None:
    fake_llm_server.script(Scripted(embeddings=rows))
    embedder = _embedder("ollama", fake_llm_server, batch_size=8)
    with pytest.raises(EmbeddingServerError, match=message or "non-finite|malformed"):
        embedder.embed(["first text", "second text"])


def test_dimension_change_between_calls_is_an_error(fake_llm_server) -> None:
    embedder = _embedder("openai", fake_llm_server)
    assert embedder.dimension == fake_llm_server.embed_dimension
    fake_llm_server.embed_dimension = 12
    with pytest.raises(EmbeddingServerError, match="dimension 12, earlier 48"):
        embedder.embed(["some text"])


def test_identity_names_backend_model_digest_and_dimension(fake_llm_server) -> None:
    fake_llm_server.models = [{"model": "fake-embed:latest", "digest": "sha256:abc"}]
    ollama = _embedder("ollama", fake_llm_server)
    assert ollama.identity == "ollama:fake-embed@sha256:abc;dim=48"
    assert ollama.describe()["hosts"] == [fake_llm_server.url]
    assert _embedder("openai", fake_llm_server).identity == "openai:fake-embed;dim=48"


def test_api_key_comes_from_the_named_variable(fake_llm_server, monkeypatch) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", "s3cret")
    embedder = _embedder("openai", fake_llm_server, api_key_env="MY_EMBED_KEY")
    embedder.embed(["text"])
    assert "s3cret" not in str(embedder.describe())
    assert embedder._client.headers["authorization"] == "Bearer s3cret"


def test_openai_backend_needs_a_model() -> None:
    with pytest.raises(ValueError, match="--embed-model"):
        make_embedder("openai", "", ["http://127.0.0.1:1"])


def test_chunk_table_is_recreated_for_another_dimension(tmp_path) -> None:
    """Vectors of another embedder replace the table (its rows were another space's) instead of
    failing on the fixed-size vector column or mixing spaces."""
    store = VectorStore(tmp_path)
    rows = [{"chunk_id": "c1", "doc_id": "d", "path": "a.md"}]
    store.replace_chunks_of(["a.md"], rows, np.ones((1, 384), dtype=np.float32))
    store.replace_chunks_of(["b.md"], [rows[0] | {"chunk_id": "c2", "path": "b.md"}], np.ones((1, 384), dtype=np.float32))
    assert store.count_chunks() == 2
    store.replace_chunks_of(["a.md"], rows, np.ones((1, 768), dtype=np.float32), "ollama:big;dim=768")
    assert store.count_chunks() == 1 and store.count_chunks("b.md") == 0
    assert table_space(store.db.open_table(CHUNKS_TABLE).schema) == ("ollama:big;dim=768", 768)
    assert len(store.document_vectors("a.md")["c1"]) == 768


def test_accepted_records_are_re_embedded_once_for_another_embedder(tmp_path, fake_llm_server) -> None:
    """Earlier accepted records stay comparable: their stored texts get the new model's vectors."""
    from mbdg_assets.validate.accepted_records import ACCEPTED_TABLE, add_accepted, load_prior

    rows = [{"record_id": f"r{i}", "text": f"record text {i}", "path": "a.md", "chunk_id": "c", "topic": "t"} for i in range(3)]
    add_accepted(tmp_path, rows, np.ones((3, 384), dtype=np.float32), np.zeros((3, 128), dtype=np.uint32))
    embedder = _embedder("openai", fake_llm_server)
    prior = load_prior(tmp_path, embedder)
    assert prior.vectors.shape == (3, 48) and prior.keys == ["r0", "r1", "r2"]
    assert np.allclose(prior.vectors, embedder.embed([r["text"] for r in rows]))
    calls = len(fake_llm_server.requests)
    assert load_prior(tmp_path, embedder).vectors.shape == (3, 48) and len(fake_llm_server.requests) == calls
    import lancedb

    assert table_space(lancedb.connect(str(tmp_path)).open_table(ACCEPTED_TABLE).schema) == (embedder.identity, 48)


def test_topics_keep_ids_and_labels_and_reseed_centroids_in_a_new_space() -> None:
    """After enter-space emptied the centroids, a topic's old member seeds it with its new vector and
    a new chunk close to it joins it; vectors of another dimension never meet the old centroids."""
    from mbdg_assets.enrich.topics import Topics, assign

    topics = Topics([1, 2], ["coffee", "ships"], [np.zeros(0, np.float32), np.ones(384, np.float32) / np.sqrt(384)], [3, 2])
    new = np.asarray([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0]], dtype=np.float32)
    assigned = assign(topics, new, [("a",), ("b",)], ["A", "B"], [1, None])
    assert assigned == [(1, "coffee"), (1, "coffee")]
    assert len(topics.centroids[0]) == 3 and topics.sizes == [4, 2]
