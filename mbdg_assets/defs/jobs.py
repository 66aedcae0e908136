"""Two jobs: per-document work and dataset-wide work. The document job runs a range of document
partitions at once (its step has BackfillPolicy.single_run: `mbdg run` and a UI backfill are one
run over all documents, one step for extract, enrich and generate: defs/documents.py). Both use
the in-process executor: on a small machine a subprocess per step costs 3-5 s and reloads models. Their default run config is the
project configuration, so the Launchpad is pre-filled with what `mbdg run` used and a launch
with an empty config does the same."""

import dagster as dg

from mbdg_assets.defs.export import run_manifest, training_dataset
from mbdg_assets.defs.documents import document_phases
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.run_configs import dataset_run_config, document_run_config
from mbdg_assets.defs.validate import validated_records

DOCUMENT_JOB, DATASET_JOB = "document_job", "dataset_job"


def build_jobs(config: dict[str, dict]) -> list:
    """document_job and dataset_job with the project's settings as their default run config (the
    model comes from the resources, which the same configuration builds)."""
    document_job = dg.define_asset_job(
        DOCUMENT_JOB, selection=[document_phases],
        partitions_def=documents_partitions, executor_def=dg.in_process_executor,
        config=document_run_config(config, with_llm=False),
        description="Extract, enrich and generate for a range of document partitions (one, or all as a "
                    "backfill); the pre-filled config is the project's, as `mbdg run` saved it.",
    )
    dataset_job = dg.define_asset_job(
        DATASET_JOB, selection=[validated_records, training_dataset, run_manifest],
        executor_def=dg.in_process_executor, config=dataset_run_config(config, with_llm=False),
        description="Validate all documents' candidates with the project's validation settings, export the "
                    "dataset and sign the manifest.",
    )
    return [document_job, dataset_job]
