"""Embeddings from a model server: Ollama's ``POST /api/embed`` or an OpenAI-compatible
``POST /v1/embeddings`` (vLLM, TEI, llama.cpp ``llama-server``).

Why a server at all: at 10,000 documents the local all-MiniLM-L6-v2 on CPU is one of the longer
CPU steps, and a team that already runs a GPU box may want a stronger embedding model. Texts go
in batches of ``batch_size``; a few batches are in flight at once, spread over the given hosts.
429 and 503 are "come back later": the batch waits (Retry-After when the server says, else a
doubling pause) and is sent again, up to ``MAX_THROTTLED_TRIES`` times. A server that cannot be
reached or times out is tried on the next host, and when every host failed the error names the
URLs. An answer with the wrong number of vectors, ragged or non-finite vectors, or a dimension
other than the first batch's is an error: a vector that does not belong to its text must never
be stored. Vectors are L2-normalised as the local model's are, so a dot product is a cosine.

The API key is read from an environment variable named in the settings, never stored.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from mbdg_assets.llm.backends import (DEFAULT_OLLAMA_HOST, DEFAULT_OPENAI_BASE_URL, THROTTLE_STATUSES, excerpt,
                                      normalise_base_url, retry_after_seconds)

DEFAULT_EMBED_BATCH = 64
DEFAULT_EMBED_TIMEOUT = 60.0
DEFAULT_OLLAMA_EMBED_MODEL = "nomic-embed-text"
MAX_THROTTLED_TRIES = 8
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.5, 30.0
BATCHES_IN_FLIGHT_PER_HOST = 2  # one being computed, one on the wire: enough to keep a server busy
_PATHS = {"ollama": "/api/embed", "openai": "/embeddings"}


class EmbeddingServerError(RuntimeError):
    """The embedding server could not give one vector per text (down, refusing, or a bad answer)."""


@dataclass
class ServerEmbedder:
    """Batched embeddings from one model served at one or more hosts (replicas of one model)."""

    backend: str
    model: str
    hosts: list[str] = field(default_factory=list)
    batch_size: int = DEFAULT_EMBED_BATCH
    timeout: float = DEFAULT_EMBED_TIMEOUT
    api_key_env: str = ""
    requests: int = 0  # requests answered (a throttled and retried batch counts each try)

    def __post_init__(self) -> None:
        if self.backend not in _PATHS:
            raise ValueError(f"unknown embedding server backend {self.backend!r}; known: {', '.join(_PATHS)}")
        if self.backend == "openai" and not self.model:
            raise ValueError("--embed-backend openai needs --embed-model (the name the server serves)")
        self.model = self.model or DEFAULT_OLLAMA_EMBED_MODEL
        self.hosts = [self._base(url) for url in dict.fromkeys(self.hosts or [""])]
        self.batch_size = max(1, int(self.batch_size))
        self._lock = threading.Lock()

    def _base(self, url: str) -> str:
        if self.backend == "ollama":
            return (url or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST).rstrip("/")
        return normalise_base_url(url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL)

    @functools.cached_property
    def _client(self):
        import httpx

        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(timeout=self.timeout, headers=headers)

    # ------------------------------------------------------------------ identity
    @functools.cached_property
    def dimension(self) -> int:
        """Length of the server's vectors, asked once with a one-word text."""
        return int(self._batch(["dimension"], 0).shape[1])

    @functools.cached_property
    def digest(self) -> str | None:
        """Ollama's digest of the model (``/api/tags``), so re-pulled weights under the same name
        are a different embedding model; None for OpenAI-compatible servers (they publish none)."""
        if self.backend != "ollama":
            return None
        wanted = {self.model, self.model if ":" in self.model else f"{self.model}:latest"}
        try:
            listed = self._client.get(self.hosts[0] + "/api/tags").json().get("models") or []
        except Exception:  # noqa: BLE001 - a dead server shows up, with its URL, at the first embedding
            return None
        return next((m.get("digest") for m in listed if m.get("model", m.get("name")) in wanted and m.get("digest")), None)

    @property
    def identity(self) -> str:
        """What the vectors depend on: backend, model (and digest) and dimension. It goes into
        chunking keys, record-vector keys and the LanceDB tables' metadata, so another model
        re-embeds rather than mixing two vector spaces."""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.backend}:{self.model}{digest};dim={self.dimension}"

    def describe(self) -> dict:
        """The embedding model as the manifest records it."""
        return {"backend": self.backend, "model": self.model, "digest": self.digest, "dimension": self.dimension,
                "hosts": list(self.hosts), "identity": self.identity}

    # ------------------------------------------------------------------ embedding
    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        workers = min(len(batches), BATCHES_IN_FLIGHT_PER_HOST * len(self.hosts))
        if workers == 1:
            parts = [self._batch(batch, n) for n, batch in enumerate(batches)]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool:
                parts = list(pool.map(self._batch, batches, range(len(batches))))
        if len({p.shape[1] for p in parts}) > 1:
            raise EmbeddingServerError(f"{self.backend} embeddings: batches came back with different dimensions "
                                       f"{sorted({p.shape[1] for p in parts})} (hosts {', '.join(self.hosts)})")
        vectors = np.concatenate(parts)
        if "dimension" in self.__dict__ and vectors.shape[1] != self.dimension:
            raise EmbeddingServerError(f"{self.backend} model {self.model}: vectors of dimension {vectors.shape[1]}, "
                                       f"earlier {self.dimension} (hosts {', '.join(self.hosts)})")
        return vectors

    def _batch(self, texts: list[str], number: int) -> np.ndarray:
        """One batch, starting at host `number` mod hosts and moving on when a host cannot answer."""
        failures = []
        for turn in range(len(self.hosts)):
            url = self.hosts[(number + turn) % len(self.hosts)] + _PATHS[self.backend]
            try:
                return self._send(url, texts)
            except _Unreachable as error:
                failures.append(f"{url}: {error}")
        raise EmbeddingServerError(f"{self.backend} embedding server unreachable: " + "; ".join(failures))

    def _send(self, url: str, texts: list[str]) -> np.ndarray:
        """POST one batch to `url`, waiting out throttling; the parsed, checked vectors."""
        import httpx

        pause = FIRST_PAUSE_S
        for _try in range(MAX_THROTTLED_TRIES):
            try:
                response = self._client.post(url, json={"model": self.model, "input": texts})
            except httpx.TimeoutException:
                raise _Unreachable(f"no answer within {self.timeout:g} s") from None
            except httpx.TransportError as error:
                raise _Unreachable(excerpt(error) or type(error).__name__) from None
            with self._lock:
                self.requests += 1
            if response.status_code in THROTTLE_STATUSES:
                wait = retry_after_seconds(response.headers)
                time.sleep(min(wait if wait is not None else pause, LONGEST_PAUSE_S))
                pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            if response.status_code != 200:
                raise EmbeddingServerError(f"{url}: HTTP {response.status_code}: {excerpt(response.text)}")
            return _normalised(self._vectors(url, response, len(texts)))
        raise EmbeddingServerError(f"{url}: still throttled (HTTP {response.status_code}) after {MAX_THROTTLED_TRIES} tries")

    def _vectors(self, url: str, response, count: int) -> np.ndarray:
        """The answer's vectors in input order, refused when their number or shape is wrong."""
        try:
            body = response.json()
            if self.backend == "ollama":
                rows = body["embeddings"]
            else:
                rows = [item["embedding"] for item in sorted(body["data"], key=lambda item: item["index"])]
        except (ValueError, KeyError, TypeError) as error:
            raise EmbeddingServerError(f"{url}: malformed embeddings answer ({type(error).__name__}: "
                                       f"{excerpt(response.text)})") from None
        if not isinstance(rows, list) or len(rows) != count:
            raise EmbeddingServerError(f"{url}: {len(rows) if isinstance(rows, list) else 'no'} vectors for {count} texts")
        if len({len(row) if isinstance(row, list) else -1 for row in rows}) != 1 or not rows[0]:
            raise EmbeddingServerError(f"{url}: vectors of different lengths in one answer")
        vectors = np.asarray(rows, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise EmbeddingServerError(f"{url}: non-finite values in the vectors")
        return vectors


class _Unreachable(Exception):
    """A host that did not answer (refused, reset, timed out): the batch goes to the next host."""


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
