"""Two jobs: per-document work and dataset-wide work. The document job runs a range of document
partitions at once (its assets have BackfillPolicy.single_run: `mbdg run` and a UI backfill are
one run over all documents, each asset one step). Both use the in-process executor: on a small
machine a subprocess per step costs 3-5 s and reloads models."""

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
    description="Extract, enrich and generate for a range of document partitions (one or all).",
)
dataset_job = dg.define_asset_job(
    "dataset_job", selection=[validated_records, training_dataset, run_manifest],
    executor_def=dg.in_process_executor,
    description="Validate all documents' candidates, export the dataset and sign the manifest.",
)
