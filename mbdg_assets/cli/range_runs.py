"""Document runs over ranges of partitions, and the pipeline `mbdg run` makes of them.

A run over the whole range does each phase for every document before the next phase starts, so
against a model server the CPU phases (extraction in its workers, chunk embeddings) and the
model's time add up instead of overlapping: at 1,000 documents the server sat idle while the
machine extracted and embedded. With a server backend `mbdg run` therefore cuts the range into
slices (small ones first, so the server gets work within seconds) and runs two lanes:

- the *prepare* lane runs `source_documents` + `enriched_chunks` over one slice after the other
  in a process of its own;
- the *generate* lane, in this process, runs `candidates` once over the whole range, started at
  once: each document waits until its slice is prepared (LaneReadiness, bound as the run's
  `readiness` resource), so the run's one request pool stays fed from the first slice to the
  last. (A generate run per slice ended with a drain, its last calls trickling in while no new
  ones started, and began with a fill: unused server slots at every boundary.) Generating a
  server's default (abstractive) answers embeds nothing, so this process then never loads the
  embedding model.
- as each group of AHEAD_GROUP documents is generated, the prepare process embeds what
  validating their winners will embed (validate/vectors_ahead.py), between its prepare runs once
  enough prepared documents wait for generation, so the dataset run that follows mostly looks
  vectors up instead of embedding after the server is done.

Every run is an ordinary Dagster run over a partition range, as a UI backfill makes
(BackfillPolicy.single_run), in the same instance and warehouse. The lanes are processes, not
threads, because Dagster reconfigures Python logging whenever a run starts (dictConfig), which
deadlocks with a run that logs in another thread of the same process. A UI backfill is one range
run without the lanes; it can overlap runs with `BackfillPolicy.multi_run` and the run queue
(docs/scaling.md).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbdg_assets.generate.readiness import Readiness

PREPARE = [dg.AssetKey("source_documents"), dg.AssetKey("enriched_chunks")]
GENERATE = [dg.AssetKey("candidates")]
FIRST_SLICE, LARGEST_SLICE = 8, 64  # documents: the server's first calls come after 8 are prepared
PR_SET_PDEATHSIG = 1  # linux/prctl.h
AHEAD_GROUP = 16  # documents whose validation work ahead is sent together (an embedding batch of ~160 texts)
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


def stop_if_interrupted(result: dg.ExecuteInProcessResult) -> None:
    """Raise KeyboardInterrupt when Dagster ended the run because this process was interrupted
    (Ctrl-C, SIGTERM). Dagster reports that as a failed step and returns, so `mbdg run` went on:
    its prepare lane prepared every remaining slice, then the dataset phase ran on what was there
    (measured: a SIGTERM 40 s into a 1,000-document run ended 30 s later, with a dataset)."""
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is not None and data.error is not None and data.error.cls_name == "DagsterExecutionInterruptedError":
            raise KeyboardInterrupt


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
    stop_if_interrupted(result)
    return RangeOutcome(list(keys), result.success, "" if result.success else failure_reason(result),
                        _failed_documents(result))


@dataclass(frozen=True)
class LaneSpec:
    """How the prepare process finds the same job: `make_defs(*defs_args)` builds the
    definitions (a module-level function, so it travels to a spawned process by name); `ahead`,
    when given, is run there on each group of generated documents' keys; `meanwhile` is run in
    this process once the prepare process is started."""

    make_defs: Callable[..., dg.Definitions]
    defs_args: tuple
    dagster_home: str
    job_name: str
    run_config: dict
    ahead: Callable[[list[str]], object] | None = None  # validation's per-record work for a group of documents (picklable)
    meanwhile: Callable[[], object] | None = None  # this process's own work while the lane prepares the first slice


class LaneReadiness(Readiness):
    """The prepare lane's progress as the generate run sees it (generate/readiness.py): between
    `begin` and `end` a document of the range waits until its slice's prepare run has ended, and
    each group of AHEAD_GROUP documents of a slice goes to `on_generated` once all of them are
    done (their validation work ahead may start: a whole slice waited for its last document, so
    the last slice's work was still ahead when the server was done). Outside them every document
    is ready, so the same definitions serve the runs `mbdg run` makes without lanes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.begin([], lambda _keys: None)

    def begin(self, slices: list[list[str]], on_generated: Callable[[list[str]], None]) -> None:
        groups = [piece[i:i + AHEAD_GROUP] for piece in slices for i in range(0, len(piece), AHEAD_GROUP)]
        with self._lock:
            self._slice_of = {key: index for index, piece in enumerate(slices) for key in piece}
            self._group_of = {key: index for index, group in enumerate(groups) for key in group}
            self._groups, self._left = groups, [len(group) for group in groups]
            self._ended = [threading.Event() for _ in slices]
            self._failure = [""] * len(slices)
            self._on_generated = on_generated

    def end(self) -> None:
        self.begin([], lambda _keys: None)

    def prepared(self, index: int, outcome: RangeOutcome) -> None:
        """Slice `index`'s prepare run ended with `outcome`: its documents may go (or be skipped)."""
        self._failure[index] = "" if outcome.success else outcome.failure
        self._ended[index].set()

    def stop(self) -> None:
        with self._lock:
            for index, ended in enumerate(self._ended):
                if not ended.is_set():
                    self._failure[index] = "the run was interrupted"
                    ended.set()

    def wait(self, path: str) -> str | None:
        index = self._slice_of.get(path)
        if index is None:
            return None
        self._ended[index].wait()
        return self._failure[index] or None

    def generated(self, path: str) -> None:
        group = self._group_of.get(path)
        if group is None:
            return
        with self._lock:
            self._left[group] -= 1
            done = self._left[group] == 0 and not self._failure[self._slice_of[path]]
        if done:
            self._on_generated(self._groups[group])


def run_pipelined(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: Sequence[str], spec: LaneSpec,
                  readiness: LaneReadiness) -> list[RangeOutcome]:
    """The prepare and generate lanes over slices of `keys` (see the module's docstring); `job`
    was built with `readiness` bound. A document of a slice whose prepare run failed as a whole is
    skipped; the slice's outcome says why. Validation's work ahead is no document's outcome: a
    slice it failed on is validated in full by the dataset run."""
    slices = slice_keys(keys)
    context = multiprocessing.get_context("spawn")  # a fork would copy Dagster's and LanceDB's threads' locks
    receiver, sender = context.Pipe(duplex=False)
    jobs, job_sender = context.Pipe(duplex=False)  # groups of documents to validate ahead, then None
    lane = context.Process(target=_prepare_lane, args=(spec, slices, sender, jobs, os.getpid()), name="mbdg-prepare")
    lane.start()
    sender.close()
    jobs.close()
    ahead, sending = [], threading.Lock()  # groups sent ahead; document threads send them

    def on_generated(group: list[str]) -> None:
        if spec.ahead is not None:
            with sending:
                job_sender.send(group)
                ahead.append(group)

    prepared: list[RangeOutcome] = []
    listener = threading.Thread(target=_listen, args=(receiver, lane, slices, readiness, prepared),
                                name="mbdg-prepare-listener", daemon=True)
    readiness.begin(slices, on_generated)
    failed = True
    try:
        listener.start()
        if spec.meanwhile is not None:
            spec.meanwhile()
        generated = run_range(job, instance, keys, spec.run_config, GENERATE)
        listener.join()
        with sending:
            job_sender.send(None)
        for _ in ahead:  # the last group's is still being embedded: the dataset run would do it slower
            done = _receive(receiver, lane, [])
            if not done.success:
                logging.getLogger("mbdg").warning("validation ahead of the dataset run: %s", done.failure)
        failed = False
    finally:
        readiness.end()
        job_sender.close()
        if failed:  # interrupted or failed: the lane stops with this process, it does not go on alone
            lane.terminate()
            lane.join(timeout=LANE_STOP_SECONDS)
            if lane.is_alive():  # its run did not reach a point where Dagster stops it
                lane.kill()
                lane.join()
        # else it has sent its last outcome and exits by itself; its shutdown (a few seconds) is
        # not waited for: multiprocessing joins it when this process exits
    return [*prepared, generated]


def _listen(receiver: Connection, lane: multiprocessing.Process, slices: list[list[str]],
            readiness: LaneReadiness, prepared: list[RangeOutcome]) -> None:
    """The prepare lane's outcome for each slice as it comes, passed on to the generate run
    (a thread of its own: the generate run is one long Dagster run in this process's main thread;
    it touches no Dagster, whose logging set-up must not meet a second thread's run)."""
    for index, piece in enumerate(slices):
        outcome = _receive(receiver, lane, piece)
        prepared.append(outcome)
        readiness.prepared(index, outcome)


def _receive(receiver: Connection, lane: multiprocessing.Process, piece: list[str]) -> RangeOutcome:
    try:
        return receiver.recv()
    except EOFError:
        lane.join(timeout=5)
        return RangeOutcome(piece, False, f"the prepare process ended before this slice (exit code {lane.exitcode})")


def _prepare_lane(spec: LaneSpec, slices: list[list[str]], sender: Connection, jobs: Connection, parent: int) -> None:
    """The prepare lane's process: each slice's prepare run in turn, its outcome sent back, and
    the validation work ahead (`spec.ahead`) of each group of documents the parent sends as it
    generates them, its outcome sent back too. Preparing comes first while fewer than AHEAD_LEAD
    prepared documents wait for the generate run; beyond that lead the work ahead that is waiting
    is done first, so that it keeps up with generation instead of piling up for the end (at 1,000
    documents, 40 s of it were left when the server was done). After the first slice the lane
    runs at a lower priority: on a machine short of cores the generate lane keeps the server fed."""
    _end_with_parent(parent)
    try:
        _prepare(spec, slices, sender, jobs)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent stops and says so
        sys.exit(130)


def _prepare(spec: LaneSpec, slices: list[list[str]], sender: Connection, jobs: Connection) -> None:
    job = spec.make_defs(*spec.defs_args).resolve_job_def(spec.job_name)
    waiting: deque[list[str]] = deque()
    prepared = generated = 0
    more = True  # the parent may still send work ahead
    with dg.DagsterInstance.from_config(spec.dagster_home) as instance:
        for number, piece in enumerate(slices):
            while more and jobs.poll():
                group = _next_job(jobs)
                more = group is not None
                if more:
                    waiting.append(group)
                    generated += len(group)
            while waiting and prepared - generated >= AHEAD_LEAD:
                sender.send(_ahead(spec, waiting.popleft()))
            sender.send(run_range(job, instance, piece, spec.run_config, PREPARE))
            prepared += len(piece)
            if number == 0:
                _yield_the_cpu()
    while waiting:
        sender.send(_ahead(spec, waiting.popleft()))
    while more and (group := _next_job(jobs)) is not None:
        sender.send(_ahead(spec, group))
    sender.close()


LANE_STOP_SECONDS = 10  # a terminated prepare process's own run ends within this, else it is killed
AHEAD_NICENESS = 10
AHEAD_LEAD = 2 * LARGEST_SLICE  # prepared documents not yet generated beyond which work ahead goes first


def _yield_the_cpu() -> None:
    """The prepare lane after its first slice is for cores the generate lane leaves idle: where
    CPU is short (a 1,000-document run on 2 cores), the generate lane's parsing and scoring keep
    the server fed first, and the lane, ahead of it, catches up while it waits for the server."""
    try:
        os.nice(AHEAD_NICENESS)
    except (OSError, AttributeError):  # not permitted or not POSIX: it only runs at the same priority
        pass


def _next_job(jobs: Connection) -> list[str] | None:
    try:
        return jobs.recv()
    except EOFError:  # the parent is gone or done
        return None


def _ahead(spec: LaneSpec, piece: list[str]) -> RangeOutcome:
    """`spec.ahead` over one group; a failure is reported, never raised (it only costs the head start)."""
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
