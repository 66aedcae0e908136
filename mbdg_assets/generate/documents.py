"""Generation for many documents at once, sharing one request pool.

One document rarely has enough calls ready to keep a batch server busy (its evolved targets wait
for its base winners, its scoring for its calls), so several documents are generated side by
side: while one scores or waits for its next stage, the others' calls fill the pool. Enough
documents run at once to queue about twice the pool's in-flight limit; each one's state is
dropped when its candidates are written, so memory follows that working set, not the number of
documents. Warehouse work goes through a WarehouseGate: no connection stays open while the model
works, and a finished call is committed before generation uses it.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from mbdg_assets.generate.candidates import GenerationParams, calls_per_target, generate_planned
from mbdg_assets.generate.planning import document_plan, fact_need, pass_sizes, plan_prefix
from mbdg_assets.generate.readiness import Readiness
from mbdg_assets.llm.backends import Generation
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.progress import CallProgress, publish
from mbdg_assets.llm.prompts import PromptTemplate
from mbdg_assets.storage.tables import load_chunks, load_document, record_plan_sizes, replace_candidates
from mbdg_assets.storage.warehouse import WarehouseGate


@dataclass
class BatchOutcome:
    """Counts over the documents of a batch (the candidates themselves are in the warehouse)."""

    documents: int = 0
    targets: int = 0
    targets_by_kind: Counter = field(default_factory=Counter)
    candidates: int = 0
    failed_candidates: int = 0
    winners: int = 0
    winner_reward_sum: float = 0.0
    first_failure: str = ""
    tokens: int = 0
    seconds: float = 0.0
    calls: int = 0          # call results seen (cache hits included)
    failed_calls: int = 0   # of those, the ones with no answer (refused, unreachable, timed out)
    first_error: str = ""   # the first failed call's reason (names the backend and, for servers, the URL)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why no generation ran
    calls_by_document: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path -> (calls, failed, first error)

    def add(self, candidates: list) -> None:
        winners = [c for c in candidates if c.is_winner]
        failed = [c for c in candidates if c.fields is None]
        self.documents += 1
        self.targets += len({c.target_id for c in candidates})
        self.targets_by_kind.update(c.generation.get("target_kind", "base") for c in candidates if c.rank == 0)
        self.candidates += len(candidates)
        self.failed_candidates += len(failed)
        self.winners += len(winners)
        self.winner_reward_sum += sum(c.reward for c in winners)
        self.first_failure = self.first_failure or (failed[0].error if failed else "") or ""


def documents_at_once(concurrency: int, calls_per_document: int, documents: int) -> int:
    """Enough documents in flight to queue about four times the pool's limit of calls. A document
    holds its thread from its first call to the write of its candidates, and its replacement's
    calls come ~1 s after its last answer (the warehouse's batches): with twice the limit the
    documents fell into waves whose ends left the pool short of calls (a batch server 90-95%
    busy between them at 300 documents, 100% with four times; bench_scale.py --timeline)."""
    return max(1, min(documents, 4 * math.ceil(concurrency / max(calls_per_document, 1)) + 1))


def generate_documents(paths: list[str], cached: CachedLLM, gate: WarehouseGate, template: PromptTemplate,
                       params: GenerationParams, budgets: dict[str, int], vectors_of: Callable[[str], dict] | None,
                       log: Callable[[str], None] = lambda _m: None, readiness: Readiness = Readiness()) -> BatchOutcome:
    """Candidates of every document in `paths` (a document's target budget from `budgets`, else
    `params.max_targets_per_document`), written per document as each finishes, each once
    `readiness` says it is prepared (generate/readiness.py)."""
    outcome, lock = BatchOutcome(), threading.Lock()
    progress = CallProgress(f"generate ({len(paths)} documents)", planned=0)
    per_target = calls_per_target(params.k, params.judge, template.schema_name)

    def on_result(result: Generation) -> None:
        with lock:
            progress.record(result)
            publish(progress)
            if progress.done % max(progress.planned // 10, 1) == 0:
                log(f"{progress.done}/{progress.planned} model calls, {progress.tokens} tokens")

    def one(path: str) -> None:
        try:
            generate_one(path)
        finally:
            readiness.generated(path)

    def generate_one(path: str) -> None:
        unprepared = readiness.wait(path)
        found = None if unprepared else gate.run(lambda con: _load(con, path))
        if found is None:
            with lock:
                outcome.skipped[path] = unprepared or "not extracted (see its extraction error)"
            return
        doc, chunks = found
        budget = budgets.get(path, params.max_targets_per_document)
        vectors = vectors_of(path) if vectors_of and "multihop" in params.kinds else {}
        plan = document_plan(chunks, template.version, vectors, params.kinds, fact_need(params.answer_mode, template.schema_name))
        planned = plan_prefix(plan, budget)
        with lock:
            progress.planned += len(planned) * per_target
        mine = CallProgress(path, planned=len(planned) * per_target)

        def on_document_result(result: Generation) -> None:
            with lock:  # the document's calls answer on several pool threads
                mine.record(result)
            on_result(result)

        result = generate_planned(cached, template, planned, params, doc.title, on_document_result)

        def write(con) -> None:
            replace_candidates(con, path, doc.doc_id, template.schema_name, result)
            record_plan_sizes(con, path, pass_sizes(plan))  # the --records rounds budget from these
        gate.run(write)
        with lock:
            outcome.add(result)
            outcome.calls_by_document[path] = (mine.done, mine.failed, mine.first_error)

    at_once = documents_at_once(params.concurrency, params.max_targets_per_document * per_target, len(paths))
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="mbdg-document") as documents:
        try:
            for future in as_completed([documents.submit(one, path) for path in paths]):
                future.result()  # a programming error in one document stops the step with its traceback
        except BaseException:  # that, or the run is interrupted: no document, call or wait goes on
            documents.shutdown(wait=False, cancel_futures=True)
            readiness.stop()
            cached.stop()
            raise
    outcome.seconds, outcome.tokens = progress.elapsed, progress.tokens
    outcome.calls, outcome.failed_calls, outcome.first_error = progress.done, progress.failed, progress.first_error
    return outcome


def _load(con, path: str):
    """The document and its chunks, or None when it was never extracted (its error is recorded)."""
    try:
        return load_document(con, path), load_chunks(con, path)
    except LookupError:
        return None
