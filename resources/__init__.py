"""Dagster resources: thin, configurable handles on the plain clients in `mbdg_assets.core`."""

from .llm import LLMResource
from .project import ProjectResource
from .signing import SignerResource
from .vectors import VectorStoreResource
from .warehouse import WarehouseResource

__all__ = ["LLMResource", "ProjectResource", "SignerResource", "VectorStoreResource", "WarehouseResource"]
