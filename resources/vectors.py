from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL, Embedder
from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env
from mbdg_assets.storage.vectors import VectorStore


class VectorStoreResource(dg.ConfigurableResource):
    """LanceDB folder and the embedding model that fills it."""

    uri: str = Field(default="", description="LanceDB folder; empty = <project dir>/lancedb")
    embedding_model: str = Field(default=DEFAULT_EMBEDDING_MODEL, description="Bundled all-MiniLM-L6-v2, or a local sentence-transformers folder")

    def store(self) -> VectorStore:
        uri = Path(self.uri).expanduser().resolve() if self.uri else ProjectPaths(project_dir_from_env()).lancedb
        return VectorStore(uri)

    def embedder(self) -> Embedder:
        return Embedder(self.embedding_model)
