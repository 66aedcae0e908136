"""Sensors: new or changed files become partitions and document runs; a finished document run
refreshes the dataset."""

import json

import dagster as dg

from mbdg_assets.extract.folder_scan import scan_documents
from mbdg_assets.defs.jobs import dataset_job, document_job
from mbdg_assets.defs.partitions import documents_partitions
from resources import ProjectResource


@dg.sensor(job=document_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def docs_folder_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    """Watches the docs folder: a partition and a run per new or changed file; deleted files' partitions removed."""
    docs = project.docs_path()
    if not docs.is_dir():
        return dg.SkipReason(f"docs folder {docs} does not exist (set MBDG_DOCS_DIR or run `mbdg run DOCS_DIR` once)")
    current = scan_documents(docs, project.follow_symlinks)
    previous = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(documents_partitions.name))
    changed = [p for p, fingerprint in current.items() if previous.get(p) != fingerprint or p not in known]
    deleted = sorted(known - current.keys())
    if not changed and not deleted:
        return dg.SkipReason(f"no new, changed or deleted files in {docs}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=p, run_key=f"{p}@{current[p]}") for p in changed],
        dynamic_partitions_requests=[documents_partitions.build_add_request([p for p in changed if p not in known]),
                                     documents_partitions.build_delete_request(deleted)],
        cursor=json.dumps(current, sort_keys=True),
    )


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[document_job], request_job=dataset_job,
                      default_status=dg.DefaultSensorStatus.RUNNING)
def refresh_dataset_after_documents(context: dg.RunStatusSensorContext):
    """After a document run succeeds, re-validate and re-export the dataset."""
    return dg.RunRequest(run_key=f"after-{context.dagster_run.run_id}")
