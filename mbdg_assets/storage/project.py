"""Where a project's state lives: one directory (default `./.mbdg/`), nothing in the user's home.

Everything mbdg writes between runs (warehouse, vectors, Dagster instance, signing key, settings)
sits under this directory so a project can be moved, backed up or deleted as one folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROJECT_DIR = ".mbdg"

_DAGSTER_YAML = """\
# Written by mbdg. Telemetry off; all storage under this folder. One run at a time: the embedded
# model and the DuckDB warehouse both serve one writer best on a small machine.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
"""


@dataclass(frozen=True)
class ProjectPaths:
    """The fixed layout inside a project directory."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def lancedb(self) -> Path:
        return self.root / "lancedb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def settings_file(self) -> Path:
        return self.root / "project.json"


def project_dir_from_env(explicit: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path wins, then `MBDG_PROJECT_DIR`, then `./.mbdg` (made absolute now, so a
    later change of working directory cannot move the state)."""
    chosen = explicit or os.environ.get("MBDG_PROJECT_DIR") or DEFAULT_PROJECT_DIR
    return Path(chosen).expanduser().resolve()


def prepare_dagster_home(paths: ProjectPaths) -> Path:
    """Create the Dagster instance folder with telemetry disabled (Dagster's default is on)."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML)
    return home


def load_settings(paths: ProjectPaths) -> dict:
    """Settings remembered between commands (e.g. the docs folder of the last `mbdg run`)."""
    try:
        return json.loads(paths.settings_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save_settings(paths: ProjectPaths, **updates: object) -> None:
    settings = load_settings(paths) | updates
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.settings_file.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
