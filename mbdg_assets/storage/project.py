"""Where a project's state lives: one directory (default `./.mbdg/`), nothing in the user's home.

Everything mbdg writes between runs (warehouse, vectors, Dagster instance, signing key, settings)
sits under this directory so a project can be moved, backed up or deleted as one folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_PROJECT_DIR = ".mbdg"

_DAGSTER_HEADER = "# Written by mbdg"
_DAGSTER_YAML = f"""\
{_DAGSTER_HEADER}; rewritten when mbdg's defaults or this folder's place change, unless this first
# line is removed.
# Telemetry off; all storage under this folder. One run at a time: the embedded model and the DuckDB
# warehouse both serve one writer best on a small machine. The event log is Dagster's SQLite one,
# writing a batch of per-partition asset events in one transaction (storage/dagster_events.py).
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
event_log_storage:
  module: mbdg_assets.storage.dagster_events
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {{runs}}
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
    """Create the Dagster instance folder with telemetry disabled (Dagster's default is on) and
    Dagster's newsletter sign-up marked seen: local-first, so the UI loads nothing from dagster.io
    (that dialog is an iframe from there, and it opens over whatever page a user first visits)."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config, wanted = home / "dagster.yaml", _DAGSTER_YAML.format(runs=json.dumps(str((home / "history" / "runs").resolve())))
    if not config.exists() or (config.read_text().startswith(_DAGSTER_HEADER) and config.read_text() != wanted):
        config.write_text(wanted)  # Dagster's own default for the folder; written out, since the storage is named
    nux = home / ".nux" / "nux.yaml"  # the file dagster._core.nux checks
    if not nux.exists():
        nux.parent.mkdir(exist_ok=True)
        nux.write_text("seen: 1\n")
    return home


def dagster_environment(paths: ProjectPaths) -> dict[str, str]:
    """The variables every Dagster process of a project runs with (`mbdg run` sets them on itself,
    `mbdg ui` on `dagster dev`; runs and lanes inherit them)."""
    return {"DAGSTER_HOME": str(prepare_dagster_home(paths)), "MBDG_PROJECT_DIR": str(paths.root)}


def load_settings(paths: ProjectPaths) -> dict:
    """Settings remembered between commands (e.g. the docs folder of the last `mbdg run`)."""
    try:
        return json.loads(paths.settings_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save_settings(paths: ProjectPaths, **updates: object) -> None:
    settings = load_settings(paths) | updates
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.settings_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    tmp.replace(paths.settings_file)  # a sensor reading it mid-write sees the old or the new file


# ------------------------------------------------------------------ the one project configuration
# What `mbdg run` ran with, read back by the Dagster resources, jobs, sensors and schedule as their
# defaults, so that a UI launch with an empty config does what the CLI did. Sections:
#   llm:      backend, model, host, hosts (resources.LLMResource's fields)
#   embed:    embed_backend, embedding_model, embed_hosts, ... (resources.VectorStoreResource's fields)
#   generate: the candidates asset's config (GenerateConfig fields)
#   validate: the validated_records asset's config (ValidateConfig fields: thresholds, judge, ...)
#   docs_dir, out_dir: relative to the project folder when they sit next to it (relocatable)
#   changes:  who changed which setting when; the manifest carries it
CONFIG_SECTIONS = ("llm", "embed", "generate", "validate")
MAX_CHANGES_KEPT = 50


def stored_folder(paths: ProjectPaths, folder: Path) -> str:
    """How a folder is written into project.json: relative to the project folder when both live
    under the same parent (the usual `./.mbdg` next to `./docs`), so copying or moving the whole
    tree keeps working; absolute otherwise (a shared docs folder elsewhere stays where it is)."""
    folder, root = Path(folder).resolve(), paths.root.resolve()
    if folder.is_relative_to(root.parent):
        return os.path.relpath(folder, root)
    return str(folder)


def resolve_folder(paths: ProjectPaths, stored: str) -> Path:
    """The folder a project.json entry names (relative entries are read against the project folder)."""
    return (paths.root / Path(stored).expanduser()).resolve()


def project_config(paths: ProjectPaths) -> dict[str, dict]:
    """The configuration sections (llm, embed, generate, validate); empty sections when nothing is saved."""
    settings = load_settings(paths)
    return {section: dict(settings.get(section) or {}) for section in CONFIG_SECTIONS}


def _differences(old: dict, new: dict, prefix: str) -> dict[str, list]:
    return {f"{prefix}{key}": [old.get(key), new.get(key)] for key in sorted(old.keys() | new.keys())
            if old.get(key) != new.get(key)}


def save_project_config(paths: ProjectPaths, by: str, docs_dir: Path | None = None, out_dir: Path | None = None,
                        **sections: dict) -> dict[str, list]:
    """Replace the given sections (and folders); every change is appended to `changes` with who made
    it, so a different backend or threshold is never silent. Returns {setting: [old, new]}."""
    settings = load_settings(paths)
    changed: dict[str, list] = {}
    updates: dict[str, object] = {}
    for section, values in sections.items():
        if section not in CONFIG_SECTIONS:
            raise ValueError(f"unknown project configuration section {section!r}; known: {', '.join(CONFIG_SECTIONS)}")
        changed |= _differences(settings.get(section) or {}, values, f"{section}.")
        updates[section] = values
    for name, folder in (("docs_dir", docs_dir), ("out_dir", out_dir)):
        if folder is not None:
            old = settings.get(name)
            updates[name] = stored_folder(paths, folder)
            if old is None or resolve_folder(paths, old) != Path(folder).resolve():
                changed[name] = [old, updates[name]]
    if changed and any(section in settings for section in CONFIG_SECTIONS):  # the first save is no change
        entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": by, "changed": changed}
        updates["changes"] = (settings.get("changes") or [])[-(MAX_CHANGES_KEPT - 1):] + [entry]
    save_settings(paths, **updates)
    return changed


def config_for_manifest(paths: ProjectPaths) -> dict:
    """The project configuration and its change history, as the signed manifest records them."""
    settings = load_settings(paths)
    return {**project_config(paths), "docs_dir": settings.get("docs_dir"), "out_dir": settings.get("out_dir"),
            "changes": settings.get("changes") or []}
