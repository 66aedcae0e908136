"""The run config of every launch, built from the one project configuration (storage/project.py):
`mbdg run`, a UI launch with the pre-filled Launchpad, the folder sensor, the refresh after
documents and the nightly schedule all ask the same model with the same settings."""

from __future__ import annotations

from mbdg_assets.defs.generate import GenerateConfig
from mbdg_assets.defs.validate import ValidateConfig
from mbdg_assets.storage.project import ProjectPaths, project_config, project_dir_from_env

DOCUMENT_STEP = "document_phases"  # the op of defs/documents.py (which imports this module)
LLM_FIELDS = ("backend", "model", "host", "hosts")


def _known(values: dict, fields: dict) -> dict:
    """Only the fields the config class has: a project.json from another mbdg version still loads."""
    return {k: v for k, v in values.items() if k in fields}


def current_config(paths: ProjectPaths | None = None) -> dict[str, dict]:
    """The project configuration as saved now (sensors and schedules read it at every tick)."""
    return project_config(paths or ProjectPaths(project_dir_from_env()))


def generate_settings(config: dict[str, dict]) -> dict:
    return _known(config.get("generate") or {}, GenerateConfig.model_fields)


def validate_settings(config: dict[str, dict]) -> dict:
    """Validation as the project set it; the schema follows generation's unless set on its own."""
    schema = (config.get("generate") or {}).get("schema_name")
    defaults = {"schema_name": schema} if schema else {}
    return defaults | _known(config.get("validate") or {}, ValidateConfig.model_fields)


def llm_settings(config: dict[str, dict]) -> dict:
    return {k: v for k, v in (config.get("llm") or {}).items() if k in LLM_FIELDS and v not in (None, "")}


def _with_llm(run_config: dict, config: dict[str, dict]) -> dict:
    llm = llm_settings(config)
    return run_config | ({"resources": {"llm": {"config": llm}}} if llm else {})


def document_run_config(config: dict[str, dict], with_llm: bool = True) -> dict:
    """Run config of document_job: generation's settings (and the project's model)."""
    run_config = {"ops": {DOCUMENT_STEP: {"config": {"generate": generate_settings(config)}}}}
    return _with_llm(run_config, config) if with_llm else run_config


def dataset_run_config(config: dict[str, dict], with_llm: bool = True) -> dict:
    """Run config of dataset_job: the validation settings and thresholds (the entailment judge
    follows the project's backend, so re-validating does not change decisions)."""
    run_config = {"ops": {"validated_records": {"config": validate_settings(config)}}}
    return _with_llm(run_config, config) if with_llm else run_config
