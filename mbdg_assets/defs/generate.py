"""Phase 3: generate. K candidates per target from the configured model, best by hybrid reward."""

from collections import Counter

import dagster as dg
from pydantic import Field

from mbdg_assets.shared.seed_examples import load_seed_examples
from mbdg_assets.generate.candidates import GenerationParams, calls_per_target, generate_planned
from mbdg_assets.generate.planning import KINDS, fact_need, plan_targets
from mbdg_assets.llm.backends import Generation
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.progress import CallProgress, publish
from mbdg_assets.llm.prompts import load_template, resolve_answer_mode
from mbdg_assets.storage.tables import load_chunks, load_document, replace_candidates
from mbdg_assets.defs.enrich import enriched_chunks
from mbdg_assets.defs.partitions import documents_partitions
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

    def params(self, backend: str) -> GenerationParams:
        unknown = sorted(set(self.target_kinds) - set(KINDS))
        if unknown:
            raise dg.Failure(f"unknown target kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        concurrency = self.concurrency or (1 if backend == "embedded" else 8)
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


def _summary(candidates, cached: CachedLLM, progress: CallProgress) -> dict:
    winners = [c for c in candidates if c.is_winner]
    failed = [c for c in candidates if c.fields is None]
    kinds = Counter(c.generation.get("target_kind", "base") for c in candidates if c.rank == 0)
    return {"targets": len({c.target_id for c in candidates}), "targets_by_kind": dg.MetadataValue.json(dict(kinds)), "candidates": len(candidates),
            "failed_candidates": len(failed), "winners": len(winners),
            "mean_winner_reward": round(sum(c.reward for c in winners) / max(len(winners), 1), 4),
            "tokens": progress.tokens, "tokens_per_winner": round(progress.tokens / max(len(winners), 1)),
            "llm_calls": cached.misses - progress.failed,  # answered calls; refused or failed ones are counted apart
            "llm_failed_calls": progress.failed, "llm_cache_hits": cached.hits, "seconds": round(progress.elapsed, 1),
            "first_failure": failed[0].error if failed else ""}


@dg.asset(partitions_def=documents_partitions, deps=[enriched_chunks], group_name="generate", kinds={"python", "duckdb"})
def candidates(context: dg.AssetExecutionContext, config: GenerateConfig, warehouse: WarehouseResource,
               llm: LLMResource, vectors: VectorStoreResource) -> dg.MaterializeResult:
    """K scored candidates per target of one document; the best of each target marked as winner."""
    path = context.partition_key
    params = config.params(llm.backend)
    template = load_template(config.schema_name, params.answer_mode)
    with warehouse.connect() as con:
        doc, chunks = load_document(con, path), load_chunks(con, path)
        chunk_vectors = vectors.store().document_vectors(path) if "multihop" in params.kinds else {}
        cached = CachedLLM(llm.client(), con)
        planned = plan_targets(chunks, template.version, params.max_targets_per_document, chunk_vectors, params.kinds,
                               fact_need(params.answer_mode, config.schema_name))
        progress = CallProgress(path, planned=len(planned) * calls_per_target(params.k, params.judge, config.schema_name))

        def on_result(result: Generation) -> None:
            progress.record(result)
            publish(progress)
            if progress.done % max(progress.planned // 10, 1) == 0:
                context.log.info(f"{path}: {progress.done}/{progress.planned} model calls, {progress.tokens} tokens")

        result = generate_planned(cached, template, planned, params, doc.title, on_result)
        replace_candidates(con, path, doc.doc_id, template.schema_name, result)
    metadata = _summary(result, cached, progress) | {"backend": cached.backend, "model": cached.model}
    _fail_or_warn_on_failed_calls(context, path, progress, config.max_failed_call_share, metadata)
    return dg.MaterializeResult(metadata=metadata)


def _fail_or_warn_on_failed_calls(context: dg.AssetExecutionContext, path: str, progress: CallProgress,
                                  max_share: float, metadata: dict) -> None:
    """A dead or refusing model server must not be a green run: all calls failed, or more than
    `max_share` of them, fails the step with the cause (the failed candidates are stored, and the
    answered calls cached, so a rerun once the server is back asks only what is missing); fewer
    failures are a WARNING with counts."""
    if not progress.failed:
        return
    what = (f"{path}: {progress.failed} of {progress.done} model calls failed "
            f"({metadata['backend']} {metadata['model']}); first error: {progress.first_error}")
    if progress.failed == progress.done or progress.failed / progress.done > max_share:
        raise dg.Failure(description=what, metadata={k: v for k, v in metadata.items() if isinstance(v, (int, float, str))})
    context.log.warning(what)
