"""Sensors. The folder sensor turns new or changed files into partitions and document runs,
starting from what is already materialized (turning it on does not redo the corpus) and a batch
at a time; the refresh sensor re-validates and re-exports once a burst of document runs is over.
Both launch with the project configuration as it is saved at the tick."""

from __future__ import annotations

import json

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbdg_assets.defs.jobs import DATASET_JOB, DOCUMENT_JOB
from mbdg_assets.defs.lineage import latest_materializations
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.run_configs import current_config, dataset_run_config, document_run_config
from mbdg_assets.extract.members import scan_documents
from mbdg_assets.shared.text import stable_id
from resources import ProjectResource

MAX_DOCUMENTS_PER_TICK = 500  # a batch; the rest are requested at the next ticks (the run queue runs one at a time)
LAST_PHASE = "candidates"  # a document is done when its last per-document asset is newer than its file
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def _file_mtime(fingerprint: str) -> float:
    """Seconds since the epoch from scan_documents' "size-mtime_ns" fingerprint (an archive member
    carries its archive's)."""
    return int(fingerprint.rsplit("-", 1)[1]) / 1e9


def _materialized(instance: dg.DagsterInstance, current: dict[str, str], known: set[str]) -> set[str]:
    """Files whose document run already finished after the file last changed (by the CLI or the UI)."""
    candidates = [p for p in current if p in known]
    latest = latest_materializations(instance, LAST_PHASE, candidates) if candidates else {}
    return {p for p, entry in latest.items() if entry["timestamp"] >= _file_mtime(current[p])}


@dg.sensor(job_name=DOCUMENT_JOB, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Watches the project's docs folder: a partition and a document run for each new or changed "
                       f"file (at most {MAX_DOCUMENTS_PER_TICK} per tick, consecutive partitions as one range run, as "
                       "`mbdg run` and a backfill make; files already materialized are not redone); "
                       "deleted files' partitions are removed.")
def docs_folder_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    docs = project.docs_path()
    if not docs.is_dir():
        return dg.SkipReason(f"docs folder {docs} does not exist (set MBDG_DOCS_DIR or run `mbdg run DOCS_DIR` once)")
    current = scan_documents(docs, project.follow_symlinks, project.extraction_limits())
    previous = json.loads(context.cursor) if context.cursor else {}
    partitions = list(context.instance.get_dynamic_partitions(documents_partitions.name))
    known = set(partitions)
    pending = [p for p, fingerprint in current.items() if previous.get(p) != fingerprint or p not in known]
    done = _materialized(context.instance, {p: current[p] for p in pending}, known)
    wanted = [p for p in pending if p not in done]
    batch, deleted = wanted[:MAX_DOCUMENTS_PER_TICK], sorted(known - current.keys())
    # the cursor holds what is requested or done; files left for the next batch stay out of it
    cursor = {p: f for p, f in current.items() if p not in wanted or p in batch}
    if not batch and not deleted:
        return dg.SensorResult(skip_reason=dg.SkipReason(
            f"{len(current)} file(s) in {docs}: none new or changed since its last materialization "
            f"({len(done)} found already materialized this tick)"), cursor=json.dumps(cursor, sort_keys=True))
    run_config = document_run_config(current_config(project.paths))
    context.log.info(f"{len(wanted)} new or changed file(s) in {docs}: requesting {len(batch)} now, "
                     f"{len(wanted) - len(batch)} at later ticks; {len(done)} already materialized; {len(deleted)} deleted")
    added = [p for p in batch if p not in known]
    order = partitions + added  # new keys go at the end
    return dg.SensorResult(
        run_requests=[_request(keys, current, run_config) for keys in stretches(batch, order)],
        dynamic_partitions_requests=[documents_partitions.build_add_request(added),
                                     documents_partitions.build_delete_request(deleted)],
        cursor=json.dumps(cursor, sort_keys=True),
    )


def stretches(keys: list[str], order: list[str]) -> list[list[str]]:
    """`keys` grouped into runs of consecutive partitions of `order`, each in that order."""
    position = {key: i for i, key in enumerate(order)}
    groups: list[list[str]] = []
    for key in sorted(keys, key=position.__getitem__):
        if groups and position[key] == position[groups[-1][-1]] + 1:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups


def _request(keys: list[str], fingerprints: dict[str, str], run_config: dict) -> dg.RunRequest:
    """A run of one partition, or of a range of them (the partition-range tags `mbdg run` and a
    backfill with BackfillPolicy.single_run use: one run, each asset one step for the range)."""
    if len(keys) == 1:
        return dg.RunRequest(partition_key=keys[0], run_key=f"{keys[0]}@{fingerprints[keys[0]]}", run_config=run_config)
    versions = stable_id(*(f"{key}@{fingerprints[key]}" for key in keys))
    return dg.RunRequest(run_key=f"{keys[0]}..{keys[-1]}@{versions}", run_config=run_config,
                         tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]})


def _latest_run(instance: dg.DagsterInstance, job: str, statuses: list[dg.DagsterRunStatus] | None = None):
    records = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=statuses), limit=1)
    return records[0] if records else None


@dg.sensor(job_name=DATASET_JOB, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Once document runs have succeeded and none is queued or running, one dataset run "
                       "(validate, export, sign) with the project's validation settings; a burst of document runs "
                       "gets one refresh, and documents the dataset already covers (e.g. `mbdg run`) get none.")
def refresh_dataset_after_documents(context: dg.SensorEvaluationContext, project: ProjectResource):
    instance = context.instance
    document = _latest_run(instance, DOCUMENT_JOB, [dg.DagsterRunStatus.SUCCESS])
    if document is None:
        return dg.SkipReason("no successful document run yet")
    busy = instance.get_runs_count(dg.RunsFilter(job_name=DOCUMENT_JOB, statuses=IN_FLIGHT))
    if busy:
        return dg.SkipReason(f"{busy} document run(s) queued or running: the refresh waits for the burst to end")
    dataset = _latest_run(instance, DATASET_JOB)
    if dataset is not None and dataset.create_timestamp.timestamp() >= (document.end_time or 0):
        return dg.SkipReason(f"the latest dataset run ({dataset.dagster_run.run_id[:8]}) started after the latest "
                             f"successful document run ({document.dagster_run.run_id[:8]}) ended")
    return dg.RunRequest(run_key=f"after-{document.dagster_run.run_id}",
                         run_config=dataset_run_config(current_config(project.paths)))
