from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from mbdg_assets.storage.project import ProjectPaths, load_settings, project_dir_from_env, resolve_folder

DEFAULT_DOCS_DIR = "inbox"


class ProjectResource(dg.ConfigurableResource):
    """Where documents come from, where state and exports go. Empty fields fall back to the
    environment (MBDG_PROJECT_DIR, MBDG_DOCS_DIR) and the project's remembered settings."""

    project_dir: str = Field(default="", description="State folder; empty = $MBDG_PROJECT_DIR or ./.mbdg")
    docs_dir: str = Field(default="", description="Documents folder; empty = $MBDG_DOCS_DIR, else the project "
                          "configuration's (the last `mbdg run`), else ./inbox")
    out_dir: str = Field(default="", description="Export folder; empty = the project configuration's (the last "
                         "`mbdg run --out`), else <project dir>/exports")
    max_file_bytes: int = Field(default=50_000_000, description="Larger files are refused with a per-file error")
    parser: str = Field(default="auto", description="Document parser: auto (the measured better one per format), "
                        "native (mbdg's own), docling (docling for the formats it converts offline; needs mbdg[docling])")

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(project_dir_from_env(self.project_dir or None))

    def docs_path(self) -> Path:
        chosen = self.docs_dir or os.environ.get("MBDG_DOCS_DIR")
        if chosen:
            return Path(chosen).expanduser().resolve()
        saved = load_settings(self.paths).get("docs_dir")  # relative to the project folder (relocatable)
        return resolve_folder(self.paths, saved) if saved else Path(DEFAULT_DOCS_DIR).resolve()

    def out_path(self) -> Path:
        if self.out_dir:
            return Path(self.out_dir).expanduser().resolve()
        saved = load_settings(self.paths).get("out_dir")
        return resolve_folder(self.paths, saved) if saved else self.paths.exports
