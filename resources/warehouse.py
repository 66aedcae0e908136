from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from mbdg_assets.storage import warehouse
from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env


class WarehouseResource(dg.ConfigurableResource):
    """The project's DuckDB file (documents, chunks, candidates, records, LLM cache)."""

    path: str = Field(default="", description="DuckDB file; empty = <project dir>/warehouse.duckdb")

    def file(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else ProjectPaths(project_dir_from_env()).warehouse

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.file()) as con:
            yield con
