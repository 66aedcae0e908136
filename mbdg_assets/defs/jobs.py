"""Two jobs: per-document work (one partition per run) and dataset-wide work. Both use the
in-process executor: on a small machine a subprocess per step costs 3-5 s and reloads models."""

import dagster as dg

from mbdg_assets.defs.enrich import enriched_chunks
from mbdg_assets.defs.export import run_manifest, training_dataset
from mbdg_assets.defs.extract import source_documents
from mbdg_assets.defs.generate import candidates
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.validate import validated_records

document_job = dg.define_asset_job(
    "document_job", selection=[source_documents, enriched_chunks, candidates],
    partitions_def=documents_partitions, executor_def=dg.in_process_executor,
    description="Extract, enrich and generate for one document partition.",
)
dataset_job = dg.define_asset_job(
    "dataset_job", selection=[validated_records, training_dataset, run_manifest],
    executor_def=dg.in_process_executor,
    description="Validate all documents' candidates, export the dataset and sign the manifest.",
)
