"""Document and dataset runs as `mbdg run` launches them: one Dagster run over a range of
partitions (the tags a UI backfill with BackfillPolicy.single_run gives its run), and what the
command reports of it. Whether the run overlaps preparing and generating is its step's decision
(defs/documents.py, defs/lanes.py), so a UI backfill does the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG


@dataclass
class RangeOutcome:
    """What `mbdg run` reports of one range run: the documents it held, whether it succeeded (and
    why not), and documents its materializations name as failed (path -> reason)."""

    keys: list[str]
    success: bool
    failure: str = ""
    failed_documents: dict[str, str] = field(default_factory=dict)


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The first step failure's own message (our Failure descriptions are written for users)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error:
                return data.error.message.strip().splitlines()[-1]
    return "run failed (see the Dagster run log)"


def stop_if_interrupted(result: dg.ExecuteInProcessResult) -> None:
    """Raise KeyboardInterrupt when Dagster ended the run because this process was interrupted
    (Ctrl-C, SIGTERM). Dagster reports that as a failed step and returns, so `mbdg run` went on:
    its prepare lane prepared every remaining slice, then the dataset phase ran on what was there
    (measured: a SIGTERM 40 s into a 1,000-document run ended 30 s later, with a dataset)."""
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is not None and data.error is not None and data.error.cls_name == "DagsterExecutionInterruptedError":
            raise KeyboardInterrupt


FAILURE_KEYS = ("failures", "failed_documents")  # a phase's failed documents; generation's that failed its calls


def _failed_documents(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Each failed document's reason from the earliest phase that names it (extraction's own
    error, not enrichment's "not extracted")."""
    failures: dict[str, str] = {}
    for event in result.get_asset_materialization_events():
        for key in FAILURE_KEYS:
            found = event.materialization.metadata.get(key)
            if found is not None:
                failures = dict(found.value) | failures
    return failures


def run_range(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Sequence[str], run_config: dict,
              selection: list[dg.AssetKey] | None = None) -> RangeOutcome:
    """One Dagster run over the partition range keys[0]..keys[-1] (in the instance's order)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    result = job.execute_in_process(run_config=run_config, instance=instance, tags=tags, raise_on_error=False,
                                    asset_selection=selection)
    stop_if_interrupted(result)
    return RangeOutcome(list(keys), result.success, "" if result.success else failure_reason(result),
                        _failed_documents(result))
