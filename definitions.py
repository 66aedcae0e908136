"""mbdg's one Dagster Definitions object: the five phases, their checks, jobs, sensors, schedule.

Read this first. Each phase's code lives in `mbdg_assets/defs/<phase>.py` and calls plain code in
`mbdg_assets/<phase>/`; the three per-document phases (extract, enrich, generate) are one step over
a range of documents, `mbdg_assets/defs/documents.py`, so that it can overlap them. Resources
(model, warehouse, vectors, signing key) live in `resources/`.
`build_definitions` lets the CLI bind its own resource settings; `dagster dev` (`mbdg ui`) uses
`defs`, whose model, embedder and job defaults come from the project configuration (`<project>/project.json`,
saved by `mbdg run`), so the UI, the sensors and the schedule run what the CLI ran.
"""

import dagster as dg

from mbdg_assets.defs.export import run_manifest, training_dataset
from mbdg_assets.defs.documents import document_phases
from mbdg_assets.defs.jobs import build_jobs
from mbdg_assets.defs.run_configs import current_config
from mbdg_assets.defs.schedules import nightly_dataset_schedule
from mbdg_assets.defs.sensors import docs_folder_sensor, refresh_dataset_after_documents
from mbdg_assets.defs.validate import (distribution_within_bounds, records_table_conforms, reviews_pending, sources_balanced,
                                  validated_records)
from resources import LLMResource, ProjectResource, SignerResource, VectorStoreResource, WarehouseResource


def build_definitions(project: ProjectResource | None = None, llm: LLMResource | None = None,
                      warehouse: WarehouseResource | None = None, vectors: VectorStoreResource | None = None,
                      signer: SignerResource | None = None, config: dict[str, dict] | None = None) -> dg.Definitions:
    """The definitions with these resources (default: the project configuration's)."""
    config = current_config() if config is None else config
    return dg.Definitions(
        assets=[document_phases, validated_records, training_dataset, run_manifest],
        asset_checks=[records_table_conforms, sources_balanced, reviews_pending, distribution_within_bounds],
        jobs=build_jobs(config),
        sensors=[docs_folder_sensor, refresh_dataset_after_documents],
        schedules=[nightly_dataset_schedule],
        resources={
            "project": project or ProjectResource(),
            "llm": llm or LLMResource.from_project(config),
            "warehouse": warehouse or WarehouseResource(),
            "vectors": vectors or VectorStoreResource.from_project(config),
            "signer": signer or SignerResource(),
        },
    )


defs = build_definitions()
