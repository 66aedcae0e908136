from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from mbdg_assets.storage.project import ProjectPaths, load_settings, project_dir_from_env

DEFAULT_DOCS_DIR = "inbox"


class ProjectResource(dg.ConfigurableResource):
    """Where documents come from, where state and exports go. Empty fields fall back to the
    environment (MBDG_PROJECT_DIR, MBDG_DOCS_DIR) and the project's remembered settings."""

    project_dir: str = Field(default="", description="State folder; empty = $MBDG_PROJECT_DIR or ./.mbdg")
    docs_dir: str = Field(default="", description="Documents folder; empty = $MBDG_DOCS_DIR, else the last `mbdg run` folder, else ./inbox")
    out_dir: str = Field(default="", description="Export folder; empty = the last `mbdg run --out`, else <project dir>/exports")
    max_file_bytes: int = Field(default=50_000_000, description="Larger files are refused with a per-file error")
    parser: str = Field(default="auto", description="Document parser: auto (the measured better one per format), "
                        "native (mbdg's own), docling (docling for the formats it converts offline; needs mbdg[docling])")

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(project_dir_from_env(self.project_dir or None))

    def docs_path(self) -> Path:
        chosen = self.docs_dir or os.environ.get("MBDG_DOCS_DIR") or load_settings(self.paths).get("docs_dir")
        return Path(chosen or DEFAULT_DOCS_DIR).expanduser().resolve()

    def out_path(self) -> Path:
        chosen = self.out_dir or load_settings(self.paths).get("out_dir")
        return Path(chosen).expanduser().resolve() if chosen else self.paths.exports
