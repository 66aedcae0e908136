"""Document runs over ranges of partitions, and the pipeline `mbdg run` makes of them.

A run over the whole range does each phase for every document before the next phase starts, so
against a model server the CPU phases (extraction in its workers, chunk embeddings) and the
model's time add up instead of overlapping: at 1,000 documents the server sat idle while the
machine extracted and embedded. With a server backend `mbdg run` therefore cuts the range into
slices (small ones first, so the server gets work within seconds) and runs two lanes:

- the *prepare* lane runs `source_documents` + `enriched_chunks` over one slice after the other
  in a process of its own (the first slice in this process, while that one starts);
- the *generate* lane, in this process, runs `candidates` over each slice as soon as it is
  prepared (with the slices after it that are prepared by then, up to MERGED_GENERATE
  documents: fewer runs, fewer drains of the request pool), with the run's one request pool;
- once a slice's candidates are made, the prepare process (done preparing, or when it is) embeds
  what validating that slice's winners will embed (validate/vectors_ahead.py), so the dataset
  run that follows mostly looks vectors up instead of embedding after the server is done.

Every slice is an ordinary Dagster run over a partition range, as a UI backfill makes
(BackfillPolicy.single_run), in the same instance and warehouse. The lanes are processes, not
threads, because Dagster reconfigures Python logging whenever a run starts (dictConfig), which
deadlocks with a run that logs in another thread of the same process. A UI backfill overlaps the
same way with `BackfillPolicy.multi_run` and the run queue (docs/scaling.md).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

PREPARE = [dg.AssetKey("source_documents"), dg.AssetKey("enriched_chunks")]
GENERATE = [dg.AssetKey("candidates")]
FIRST_SLICE, LARGEST_SLICE = 16, 128  # documents: the server's first calls come after 16 are prepared
PR_SET_PDEATHSIG = 1  # linux/prctl.h
MERGED_GENERATE = 2 * LARGEST_SLICE  # documents at most in one generate run of slices prepared meanwhile
PIPELINE_FROM = 64  # documents; below, starting the prepare process (imports, embedding model) costs more than it saves


@dataclass
class RangeOutcome:
    """What `mbdg run` reports of one range run: the documents it held, whether it succeeded (and
    why not), and documents the generate step named as failed (path -> reason)."""

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


def _failed_documents(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    failures: dict[str, str] = {}
    for event in result.get_asset_materialization_events():
        found = event.materialization.metadata.get("failed_documents")
        if found is not None:
            failures |= dict(found.value)
    return failures


def slice_keys(keys: Sequence[str], first: int = FIRST_SLICE, largest: int = LARGEST_SLICE) -> list[list[str]]:
    """Contiguous slices of `keys`, doubling from `first` up to `largest` keys each."""
    slices, start, size = [], 0, max(first, 1)
    while start < len(keys):
        slices.append(list(keys[start:start + size]))
        start, size = start + size, min(size * 2, max(largest, first))
    return slices


def run_range(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Sequence[str], run_config: dict,
              selection: list[dg.AssetKey] | None = None) -> RangeOutcome:
    """One Dagster run over the partition range keys[0]..keys[-1] (in the instance's order)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    result = job.execute_in_process(run_config=run_config, instance=instance, tags=tags, raise_on_error=False,
                                    asset_selection=selection)
    return RangeOutcome(list(keys), result.success, "" if result.success else failure_reason(result),
                        _failed_documents(result))


@dataclass(frozen=True)
class LaneSpec:
    """How the prepare process finds the same job: `make_defs(*defs_args)` builds the
    definitions (a module-level function, so it travels to a spawned process by name); `ahead`,
    when given, is run there on each generated slice's keys."""

    make_defs: Callable[..., dg.Definitions]
    defs_args: tuple
    dagster_home: str
    job_name: str
    run_config: dict
    ahead: Callable[[list[str]], object] | None = None  # validation's per-record work for a slice's documents (picklable)


def run_pipelined(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Sequence[str],
                  spec: LaneSpec) -> list[RangeOutcome]:
    """The prepare and generate lanes over slices of `keys` (see the module's docstring). A slice
    whose prepare run failed as a whole is not generated; its outcome says why. Validation's work
    ahead is no document's outcome: a slice it failed on is validated in full by the dataset run."""
    slices = slice_keys(keys)
    context = multiprocessing.get_context("spawn")  # a fork would copy Dagster's and LanceDB's threads' locks
    receiver, sender = context.Pipe(duplex=False)
    jobs, job_sender = context.Pipe(duplex=False)  # slice numbers to validate ahead, then None
    lane = context.Process(target=_prepare_lane, args=(spec, slices, sender, jobs, os.getpid()), name="mbdg-prepare")
    lane.start()
    sender.close()
    jobs.close()
    prepared: list[RangeOutcome] = []  # prepare outcomes by slice
    outcomes: list[RangeOutcome] = []
    ready: list[int] = []  # prepared slices not yet generated

    def take(outcome: RangeOutcome) -> None:
        prepared.append(outcome)
        outcomes.append(outcome)
        if outcome.success:
            ready.append(len(prepared) - 1)

    try:
        ahead = 0
        take(run_range(job, instance, slices[0], spec.run_config, PREPARE))
        while ready or len(prepared) < len(slices):
            if not ready or (len(prepared) < len(slices) and receiver.poll()):
                take(_receive(receiver, lane, slices[len(prepared)]))
                continue  # what else is prepared by now joins this generate run
            batch = _generate_batch(ready, slices)
            del ready[:len(batch)]
            outcomes.append(run_range(job, instance, [k for i in batch for k in slices[i]], spec.run_config, GENERATE))
            if spec.ahead is not None and outcomes[-1].success:
                for index in batch:
                    job_sender.send(index)
                ahead += len(batch)
        job_sender.send(None)
        for _ in range(ahead):  # the last slice's is still being embedded: the dataset run would do it slower
            done = _receive(receiver, lane, [])
            if not done.success:
                logging.getLogger("mbdg").warning("validation ahead of the dataset run: %s", done.failure)
    except BaseException:  # interrupted or failed: the lane stops with this process, it does not go on alone
        lane.terminate()
        raise
    finally:
        job_sender.close()
        lane.join(timeout=60)  # it has sent its last outcome; only its shutdown is left
        if lane.is_alive():
            lane.terminate()
            lane.join()
    return outcomes


def _generate_batch(ready: list[int], slices: list[list[str]]) -> list[int]:
    """The prepared slices one generate run takes: the first ready one, and the ones after it that
    are ready too, up to MERGED_GENERATE documents. Each generate run ends with a drain (its last
    calls trickle in while no new ones start) and the next begins with a fill, which cost the
    server a few seconds each, so fewer, longer runs keep it busier. The last slice stays alone:
    its validation work ahead can only start once it is generated, so it is kept small."""
    batch, size = ready[:1], len(slices[ready[0]])
    for index in ready[1:]:
        if index != batch[-1] + 1 or index == len(slices) - 1 or size + len(slices[index]) > MERGED_GENERATE:
            break
        batch.append(index)
        size += len(slices[index])
    return batch


def _receive(receiver: Connection, lane: multiprocessing.Process, piece: list[str]) -> RangeOutcome:
    try:
        return receiver.recv()
    except EOFError:
        lane.join(timeout=5)
        return RangeOutcome(piece, False, f"the prepare process ended before this slice (exit code {lane.exitcode})")


def _prepare_lane(spec: LaneSpec, slices: list[list[str]], sender: Connection, jobs: Connection, parent: int) -> None:
    """The prepare lane's process: each slice's prepare run in turn (all but the first, which the
    parent prepares), its outcome sent back; then, slice by slice as the parent names them, the
    validation work ahead (`spec.ahead`), its outcome sent back too."""
    _end_with_parent(parent)
    job = spec.make_defs(*spec.defs_args).resolve_job_def(spec.job_name)
    with dg.DagsterInstance.from_config(spec.dagster_home) as instance:
        for piece in slices[1:]:
            sender.send(run_range(job, instance, piece, spec.run_config, PREPARE))
    _yield_the_cpu()
    while (index := _next_job(jobs)) is not None:
        sender.send(_ahead(spec, slices[index]))
    sender.close()


AHEAD_NICENESS = 10


def _yield_the_cpu() -> None:
    """The work ahead is for cores the generate lane leaves idle: where CPU is short (a 1,000-
    document run on 2 cores), the generate lane's parsing and scoring keep the server fed first."""
    try:
        os.nice(AHEAD_NICENESS)
    except (OSError, AttributeError):  # not permitted or not POSIX: it only runs at the same priority
        pass


def _next_job(jobs: Connection) -> int | None:
    try:
        return jobs.recv()
    except EOFError:  # the parent is gone or done
        return None


def _ahead(spec: LaneSpec, piece: list[str]) -> RangeOutcome:
    """`spec.ahead` over one slice; a failure is reported, never raised (it only costs the head start)."""
    try:
        spec.ahead(piece)
    except Exception as error:  # noqa: BLE001 - any failure leaves the work to the dataset run
        return RangeOutcome(piece, False, f"{type(error).__name__}: {error}")
    return RangeOutcome(piece, True)


def _end_with_parent(parent: int) -> None:
    """A `kill -9` of `mbdg run` must not leave its prepare lane writing to the warehouse that the
    rerun uses: on Linux the kernel kills this process with its parent (PR_SET_PDEATHSIG);
    elsewhere a watcher thread ends it within half a second."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError, TypeError):  # not Linux: the watcher below does it
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
    threading.Thread(target=watch, name="mbdg-parent-watch", daemon=True).start()
