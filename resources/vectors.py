from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL, make_embedder
from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env
from mbdg_assets.storage.vectors import VectorStore


class VectorStoreResource(dg.ConfigurableResource):
    """LanceDB folder and the one embedding model that fills it: chunk vectors, record vectors and
    every validation stage's vectors come from `embedder()`, so they share one vector space."""

    uri: str = Field(default="", description="LanceDB folder; empty = <project dir>/lancedb")
    embed_backend: str = Field(default="local", description="local (the bundled all-MiniLM-L6-v2 on this machine) | "
                               "ollama (/api/embed) | openai (an OpenAI-compatible /v1/embeddings: vLLM, TEI, llama.cpp)")
    embedding_model: str = Field(default="", description="Empty = the backend's default (local: all-MiniLM-L6-v2, "
                                 "ollama: nomic-embed-text; openai needs one); local also takes a sentence-transformers folder")
    embed_hosts: list[str] = Field(default_factory=list, description="Embedding server URLs (replicas of one model); "
                                   "empty = OLLAMA_HOST / OPENAI_BASE_URL / the backend's default")
    embed_batch_size: int = Field(default=0, description="Texts per embedding request; 0 = 64 for servers, 32 locally")
    embed_timeout: float = Field(default=60.0, description="Seconds per embedding request")
    embed_api_key_env: str = Field(default="", description="Name of the environment variable holding the embedding "
                                   "server's API key (the key itself is never stored)")

    @classmethod
    def from_project(cls, config: dict[str, dict], **given) -> "VectorStoreResource":
        """The embedder the project configuration names (section `embed`, what `mbdg run` used);
        the local model when nothing is saved. Unknown keys are ignored."""
        saved = {k: v for k, v in (config.get("embed") or {}).items() if k in cls.model_fields and v not in (None, "")}
        return cls(**(saved | given))

    def settings(self) -> dict:
        """The project-configuration form of this embedder (no URI: that is the project's)."""
        return {"embed_backend": self.embed_backend, "embedding_model": self.embedding_model,
                "embed_hosts": list(self.embed_hosts), "embed_batch_size": self.embed_batch_size,
                "embed_timeout": self.embed_timeout, "embed_api_key_env": self.embed_api_key_env}

    def tokenizer(self) -> str:
        """Whose word pieces chunk sizes are counted in: the local model's; with a server, the
        bundled all-MiniLM-L6-v2 tokenizer (a server publishes no tokenizer; sizes stay as calibrated)."""
        return (self.embedding_model or DEFAULT_EMBEDDING_MODEL) if self.embed_backend == "local" else DEFAULT_EMBEDDING_MODEL

    def store(self) -> VectorStore:
        uri = Path(self.uri).expanduser().resolve() if self.uri else ProjectPaths(project_dir_from_env()).lancedb
        return VectorStore(uri)

    def embedder(self):
        """The run's one embedder (enrich.embeddings.make_embedder)."""
        return make_embedder(self.embed_backend, self.embedding_model, list(self.embed_hosts), self.embed_batch_size,
                             self.embed_timeout, self.embed_api_key_env)
