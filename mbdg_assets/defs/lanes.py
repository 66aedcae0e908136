"""The document step over a large range against a model server: preparing and generating at once.

Doing each phase for every document before the next starts makes the machine's work (extraction,
chunk embeddings) and the server's work add up: at 1,000 documents the server sat idle while the
machine extracted and embedded. So the document step (defs/documents.py) cuts its range into
slices (small ones first, so the server gets work within seconds) and runs two lanes:

- the *prepare* lane, a process of its own, extracts and enriches one slice after the other;
- the *generate* lane, the step itself, generates the whole range at once with the run's one
  request pool: each document waits until its slice is prepared (SliceReadiness,
  generate/readiness.py). A generation per slice ended with a drain and began with a fill:
  unused server slots at every boundary.
- as each group of AHEAD_GROUP documents is generated, the prepare process embeds what
  validating their winners will embed (validate/vectors_ahead.py), between its slices once
  enough prepared documents wait for generation, so the dataset run that follows mostly looks
  vectors up instead of embedding after the server is done.

It is one Dagster step whatever launched it (`mbdg run`, a UI backfill, the folder sensor), so
every launch takes this path at the same cost. The prepare lane is a process, not a thread:
extraction and embedding are CPU work that a thread would take from generation's parsing and
scoring under the interpreter lock, and a `kill -9` of the run must take it along
(PR_SET_PDEATHSIG). It sends each slice's per-document facts back; the step's materializations
of source_documents and enriched_chunks are made from them as a run without lanes makes them.
"""

from __future__ import annotations

import ctypes
import importlib
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
from typing import TypeVar

from mbdg_assets.defs.enrich import ChunkingConfig, Enriched, enrich_documents
from mbdg_assets.defs.extract import Extracted, extract_documents
from mbdg_assets.generate.readiness import Readiness, SliceReadiness
from mbdg_assets.validate.vectors_ahead import embed_ahead
from resources import ProjectResource, VectorStoreResource, WarehouseResource

FIRST_SLICE, LARGEST_SLICE = 8, 64  # documents: the server's first calls come after 8 are prepared
PIPELINE_FROM = 64  # documents; below, starting the prepare process (imports, embedding model) costs more than it saves
AHEAD_LEAD = 2 * LARGEST_SLICE  # prepared documents not yet generated beyond which work ahead goes first
AHEAD_NICENESS = 10
LANE_STOP_SECONDS = 10  # a terminated prepare process ends within this, else it is killed
PR_SET_PDEATHSIG = 1  # linux/prctl.h
DATASET_MODULES = ("great_expectations", "pandera.pandas")  # the dataset run's checks import them lazily

T = TypeVar("T")


def slice_keys(keys: Sequence[str], first: int = FIRST_SLICE, largest: int = LARGEST_SLICE) -> list[list[str]]:
    """Contiguous slices of `keys`, doubling from `first` up to `largest` keys each."""
    slices, start, size = [], 0, max(first, 1)
    while start < len(keys):
        slices.append(list(keys[start:start + size]))
        start, size = start + size, min(size * 2, max(largest, first))
    return slices


@dataclass(frozen=True)
class PrepareWork:
    """What the prepare process needs, as plain values (Dagster resources do not pickle): each
    resource's class and fields, the chunking settings, and the schema whose validation texts are
    embedded ahead (empty: no work ahead)."""

    project: dict
    warehouse: dict
    vectors: dict
    chunking: dict
    ahead_schema: str = ""

    @classmethod
    def of(cls, project: ProjectResource, warehouse: WarehouseResource, vectors: VectorStoreResource,
           chunking: ChunkingConfig, ahead_schema: str) -> "PrepareWork":
        def fields(model) -> dict:
            return {name: getattr(model, name) for name in type(model).model_fields}
        return cls(fields(project), fields(warehouse), fields(vectors), fields(chunking), ahead_schema)


@dataclass
class SlicePrepared:
    """One slice's extraction and enrichment facts, or why the slice failed as a whole."""

    index: int
    keys: list[str]
    extracted: Extracted = field(default_factory=dict)
    enriched: Enriched = field(default_factory=Enriched)
    failure: str = ""


@dataclass
class AheadDone:
    """Validation's work ahead for one group of documents, done (or why not: it only costs the head start)."""

    keys: list[str]
    failure: str = ""


def generate_with_lanes(paths: list[str], work: PrepareWork, generate: Callable[[Readiness], T],
                        log: Callable[[str], None]) -> tuple[list[SlicePrepared], T]:
    """Prepare the slices of `paths` in a second process while `generate(readiness)` runs here
    over all of them (see the module's docstring). A document of a slice that failed as a whole
    is skipped by generation with the reason; the slice's SlicePrepared says it too."""
    slices = slice_keys(paths)
    context = multiprocessing.get_context("spawn")  # a fork would copy Dagster's and LanceDB's threads' locks
    receiver, sender = context.Pipe(duplex=False)
    jobs, job_sender = context.Pipe(duplex=False)  # groups of documents to validate ahead, then None
    lane = context.Process(target=_prepare_lane, args=(work, slices, sender, jobs, os.getpid()), name="mbdg-prepare")
    sending = threading.Lock()  # document threads send the groups

    def on_generated(group: list[str]) -> None:
        if work.ahead_schema:
            with sending:
                job_sender.send(group)

    readiness = SliceReadiness(slices, on_generated)
    prepared: list[SlicePrepared] = []
    listener = threading.Thread(target=_listen, args=(receiver, lane, slices, readiness, prepared, log),
                                name="mbdg-prepare-listener", daemon=True)
    lane.start()
    sender.close()
    jobs.close()
    failed = True
    try:
        listener.start()
        _import_dataset_modules()
        generated = generate(readiness)
        with sending:
            job_sender.send(None)
        listener.join()  # the last groups' work ahead: the dataset run would do it slower
        failed = False
    finally:
        job_sender.close()
        if failed:  # interrupted or failed: the lane stops with this step, it does not go on alone
            _stop(lane)
    return sorted(prepared, key=lambda piece: piece.index), generated


def _import_dataset_modules() -> None:
    """This step waits for the first slice anyway: import now what the dataset run's checks
    import lazily (~3 s), which under `mbdg run` would otherwise come after the server's last answer."""
    for name in DATASET_MODULES:
        importlib.import_module(name)


def _stop(lane: multiprocessing.Process) -> None:
    lane.terminate()
    lane.join(timeout=LANE_STOP_SECONDS)
    if lane.is_alive():  # it was in code that does not return to Python soon
        lane.kill()
        lane.join()


def _listen(receiver: Connection, lane: multiprocessing.Process, slices: list[list[str]],
            readiness: SliceReadiness, prepared: list[SlicePrepared], log: Callable[[str], None]) -> None:
    """The prepare process's messages until it ends: each prepared slice released to generation,
    each group's work ahead noted. A process that died leaves its unreported slices failed, so no
    document waits for ever."""
    while True:
        try:
            message = receiver.recv()
        except EOFError:
            break
        if isinstance(message, SlicePrepared):
            prepared.append(message)
            readiness.prepared(message.index, message.failure)
            log(f"prepared slice {message.index + 1}/{len(slices)} ({len(message.keys)} documents)"
                + (f": FAILED {message.failure}" if message.failure else ""))
        elif message.failure:
            logging.getLogger("mbdg").warning("validation ahead of the dataset run: %s", message.failure)
    lane.join(timeout=5)
    reported = {piece.index for piece in prepared}
    for index, piece in enumerate(slices):
        if index not in reported:
            gone = SlicePrepared(index, piece, failure=f"the prepare process ended before this slice (exit code {lane.exitcode})")
            prepared.append(gone)
            readiness.prepared(index, gone.failure)


def _prepare_lane(work: PrepareWork, slices: list[list[str]], sender: Connection, jobs: Connection, parent: int) -> None:
    """The prepare process: each slice prepared in turn and its facts sent back, and the work
    ahead of each group of documents the parent sends as it generates them. Preparing comes first
    while fewer than AHEAD_LEAD prepared documents wait for generation; beyond that lead the work
    ahead that is waiting goes first, so that it keeps up with generation instead of piling up
    for the end (at 1,000 documents, 40 s of it were left when the server was done). After the
    first slice the process runs at a lower priority: on a machine short of cores generation
    keeps the server fed first."""
    _end_with_parent(parent)
    try:
        _prepare(work, slices, sender, jobs)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent stops and says so
        sys.exit(130)


def _prepare(work: PrepareWork, slices: list[list[str]], sender: Connection, jobs: Connection) -> None:
    project, warehouse = ProjectResource(**work.project), WarehouseResource(**work.warehouse)
    vectors, chunking = VectorStoreResource(**work.vectors), ChunkingConfig(**work.chunking)

    def ahead(group: list[str]) -> AheadDone:
        try:
            embed_ahead(warehouse.file(), vectors.embedder(), work.ahead_schema, group)
        except Exception as error:  # noqa: BLE001 - any failure leaves the work to the dataset run
            return AheadDone(group, f"{type(error).__name__}: {error}")
        return AheadDone(group)

    waiting: deque[list[str]] = deque()
    prepared = generated = 0
    more = True  # the parent may still send work ahead
    for index, piece in enumerate(slices):
        while more and jobs.poll():
            group = _next_job(jobs)
            more = group is not None
            if more:
                waiting.append(group)
                generated += len(group)
        while waiting and prepared - generated >= AHEAD_LEAD:
            sender.send(ahead(waiting.popleft()))
        sender.send(_prepare_slice(index, piece, project, warehouse, vectors, chunking))
        prepared += len(piece)
        if index == 0:
            _yield_the_cpu()
    while waiting:
        sender.send(ahead(waiting.popleft()))
    while more and (group := _next_job(jobs)) is not None:
        sender.send(ahead(group))
    sender.close()


def _prepare_slice(index: int, piece: list[str], project: ProjectResource, warehouse: WarehouseResource,
                   vectors: VectorStoreResource, chunking: ChunkingConfig) -> SlicePrepared:
    """One slice extracted and enriched; an error that stops the slice as a whole (a full disk,
    a broken embedding model) is its failure, and the next slice is tried."""
    try:
        extracted = extract_documents(piece, project, warehouse)
        return SlicePrepared(index, piece, extracted, enrich_documents(piece, chunking, warehouse, vectors))
    except Exception as error:  # noqa: BLE001 - reported for each of the slice's documents
        return SlicePrepared(index, piece, failure=f"{type(error).__name__}: {error}")


def _yield_the_cpu() -> None:
    """The prepare lane after its first slice is for cores generation leaves idle: where CPU is
    short (a 1,000-document run on 2 cores), generation's parsing and scoring keep the server fed
    first, and the lane, ahead of it, catches up while it waits for the server."""
    try:
        os.nice(AHEAD_NICENESS)
    except (OSError, AttributeError):  # not permitted or not POSIX: it only runs at the same priority
        pass


def _next_job(jobs: Connection) -> list[str] | None:
    try:
        return jobs.recv()
    except EOFError:  # the parent is gone or done
        return None


def _end_with_parent(parent: int) -> None:
    """A `kill -9` of the run must not leave its prepare lane writing to the warehouse that the
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
