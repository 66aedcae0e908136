"""Phase 3: generate. K candidates per target from the configured model, best by hybrid reward."""

from dataclasses import replace

import dagster as dg
from pydantic import Field

from mbdg_assets.shared.seed_examples import load_seed_examples
from mbdg_assets.generate.candidates import GenerationParams
from mbdg_assets.generate.documents import BatchOutcome, generate_documents
from mbdg_assets.generate.planning import KINDS
from mbdg_assets.generate.readiness import Readiness
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.pool import RequestPool
from mbdg_assets.llm.prompts import load_template, resolve_answer_mode
from mbdg_assets.storage.warehouse import WarehouseGate
from mbdg_assets.defs.enrich import ENRICHED_CHUNKS
from resources import LLMResource, VectorStoreResource, WarehouseResource


class GenerateConfig(dg.Config):
    schema_name: str = "instruction_pair"
    k: int = 4
    temperature: float = -1.0  # below 0 = 0.5 for extractive answers (a small model's questions stay on the sentence), 0.8 else
    seed: int = 0
    max_tokens: int = 0   # 0 = 96 for extractive answers (a question), 256 for abstractive ones
    answer_mode: str = Field(default="auto", description="auto (extractive for the embedded model, abstractive for "
                             "servers), extractive (the model writes the question, the chosen fact is the answer) "
                             "or abstractive (the model writes both)")
    max_targets_per_document: int = 8  # a prefix of the document's plan: base targets, then multi-hop, deepen, broaden
    target_kinds: list[str] = Field(default_factory=lambda: list(KINDS),
                                    description="Target kinds the plan may use: base, multihop, deepen, broaden")
    repair_attempts: int = 1
    concurrency: int = 0  # 0 = 1 for the embedded model, 8 for server backends
    judge: bool = False   # LLM-graded usefulness in the overall reward (worth it with a capable model)
    vary_style: bool = True  # a different persona and difficulty for each of the K candidates
    seed_examples_path: str = ""  # JSONL of your own records: few-shot style anchors, never copied
    max_failed_call_share: float = Field(default=0.5, ge=0.0, le=1.0, description=(
        "The step fails when more than this share of the document's model calls failed (all failed always "
        "fails it); fewer failures log a WARNING with counts"))
    targets_per_document: dict[str, int] = Field(default_factory=dict,
                                                 description="Per-document target budgets (path -> targets); "
                                                 "others use max_targets_per_document (`--records` rounds set it)")

    def params(self, backend: str, default_concurrency: int = 8) -> GenerationParams:
        unknown = sorted(set(self.target_kinds) - set(KINDS))
        if unknown:
            raise dg.Failure(f"unknown target kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        concurrency = self.concurrency or (1 if backend == "embedded" else default_concurrency)
        try:
            mode = resolve_answer_mode(self.answer_mode, backend, self.schema_name)
        except ValueError as error:
            raise dg.Failure(str(error)) from None
        kinds = tuple(k for k in KINDS if k in self.target_kinds and (mode == "abstractive" or k == "base"))
        temperature = self.temperature if self.temperature >= 0 else (0.5 if mode == "extractive" else 0.8)
        return GenerationParams(k=self.k, temperature=temperature, base_seed=self.seed,
                                max_tokens=self.max_tokens or (96 if mode == "extractive" else 256),
                                max_targets_per_document=self.max_targets_per_document,
                                repair_attempts=self.repair_attempts, concurrency=concurrency, judge=self.judge,
                                vary_style=self.vary_style, kinds=kinds, answer_mode=mode,
                                seed_examples=load_seed_examples(self.seed_examples_path) if self.seed_examples_path else ())


def _summary(outcome: BatchOutcome, cached: CachedLLM, pool: RequestPool) -> dict:
    return {"documents": outcome.documents, "targets": outcome.targets,
            "targets_by_kind": dg.MetadataValue.json(dict(outcome.targets_by_kind)), "candidates": outcome.candidates,
            "failed_candidates": outcome.failed_candidates, "winners": outcome.winners,
            "mean_winner_reward": round(outcome.winner_reward_sum / max(outcome.winners, 1), 4),
            "tokens": outcome.tokens, "tokens_per_winner": round(outcome.tokens / max(outcome.winners, 1)),
            "llm_calls": cached.misses - outcome.failed_calls,  # answered calls; refused or failed ones are counted apart
            "llm_failed_calls": outcome.failed_calls, "llm_cache_hits": cached.hits,
            "llm_answers_recovered": cached.recovered, "seconds": round(outcome.seconds, 1),
            "first_failure": outcome.first_failure, "requests": dg.MetadataValue.json(pool.facts()),
            "skipped": dg.MetadataValue.json(outcome.skipped)}


CANDIDATES = dg.AssetSpec(
    "candidates", deps=[ENRICHED_CHUNKS], group_name="generate", kinds={"python", "duckdb"},
    description="K scored candidates per target of each document, the best of each target marked as winner; "
                "all documents' model calls share one request pool.")


def generate_candidates(paths: list[str], config: GenerateConfig, warehouse: WarehouseResource, llm: LLMResource,
                        vectors: VectorStoreResource, log: dg.DagsterLogManager,
                        readiness: Readiness = Readiness()) -> dg.MaterializeResult:
    """K scored candidates per target of each document of `paths`. All documents' model calls
    share one request pool, so a batch server stays busy across documents; `readiness` holds back
    a document the prepare lane is still preparing (defs/lanes.py)."""
    params = config.params(llm.backend, llm.default_concurrency())
    # extractive winners must be answered by their fact, and are ranked by the wording's fluency where the model scores it
    params = replace(params, embed=vectors.embedder().embed, fluency=llm.fluency_scorer())
    template = load_template(config.schema_name, params.answer_mode)
    store = vectors.store()
    with llm.pool(params.concurrency) as pool, WarehouseGate(warehouse.file()) as gate, CachedLLM(pool, gate) as cached:
        outcome = generate_documents(paths, cached, gate, template, params, config.targets_per_document,
                                     store.document_vectors, log.info, readiness)
    metadata = _summary(outcome, cached, pool) | {"backend": cached.backend, "model": cached.model}
    _fail_or_warn_on_failed_calls(log, outcome, config.max_failed_call_share, metadata)
    return dg.MaterializeResult(asset_key=CANDIDATES.key, metadata=metadata)


def failed_documents(outcome: BatchOutcome, max_share: float) -> dict[str, str]:
    """Documents whose model calls all failed, or more than `max_share` of them, with the cause."""
    return {path: f"{failed} of {calls} model calls failed; first error: {first}"
            for path, (calls, failed, first) in sorted(outcome.calls_by_document.items())
            if failed and (failed == calls or failed / calls > max_share)}


def _fail_or_warn_on_failed_calls(log: dg.DagsterLogManager, outcome: BatchOutcome, max_share: float,
                                  metadata: dict) -> None:
    """A dead or refusing model server must not be a green run. The step fails with the cause when
    every document it held failed (all its calls, or more than `max_share`), or more than
    `max_share` of all calls failed; otherwise each failed document is named in the metadata
    (`failed_documents`, which `mbdg run` reports per document) and a WARNING gives the counts. The
    failed candidates are stored and the answered calls cached, so a rerun asks only what is missing."""
    if not outcome.failed_calls:
        return
    failed = failed_documents(outcome, max_share)
    metadata["failed_documents"] = dg.MetadataValue.json(failed)
    what = (f"{outcome.failed_calls} of {outcome.calls} model calls failed "
            f"({metadata['backend']} {metadata['model']}); first error: {outcome.first_error}")
    if outcome.failed_calls == outcome.calls or outcome.failed_calls / outcome.calls > max_share or \
            (failed and len(failed) == len(outcome.calls_by_document)):
        raise dg.Failure(description=what, metadata={k: v for k, v in metadata.items() if isinstance(v, (int, float, str))})
    log.warning(what + ("; failed documents: " + ", ".join(failed) if failed else ""))
