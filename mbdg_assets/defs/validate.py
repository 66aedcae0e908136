"""Phase 4: validate. Every document's winners through the five stages; checks on the result."""

from contextlib import nullcontext
from functools import partial

import dagster as dg
from pydantic import Field

from mbdg_assets.enrich.embeddings import EMBEDDING_FACTS
from mbdg_assets.validate.accepted_records import add_accepted, load_prior
from mbdg_assets.validate.contamination import EvalIndex
from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT, Thresholds
from mbdg_assets.validate.distribution import (DistributionBounds, allowed_share, distributions_markdown,
                                           markdown_shares, record_rows, run_suite, seed_rows)
from mbdg_assets.validate.entailment import EntailmentJudge, judge_enabled
from mbdg_assets.validate.eval_sets import load_eval_texts
from mbdg_assets.shared.markdown import markdown_table
from mbdg_assets.shared.seed_examples import load_seed_examples
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.storage.tables import (decision_counts, load_winners, purge_removed_documents, record_run_facts, replace_records,
                                        replace_stage_counts)
from mbdg_assets.validate.records_table_checks import overrepresented_sources, records_table_failures, schema_failures
from mbdg_assets.storage.text_vectors import StoredEmbedder, keep_only
from mbdg_assets.validate.validator import ValidationParams, record_text, validate_candidates
from mbdg_assets.defs.generate import CANDIDATES
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.review.queue import review_counts
from resources import LLMResource, VectorStoreResource, WarehouseResource


VALIDATE_FACTS = "validate"  # run_facts row: the settings the latest validation ran with


class ValidateConfig(dg.Config):
    schema_name: str = "instruction_pair"
    approve_threshold: float = 0.90
    review_threshold: float = 0.70
    grounding_gate: float = 0.60
    fair_share_multiple: float = 1.5
    near_jaccard: float = 0.9
    semantic_cosine: float = 0.9
    eval_sets: list[str] = Field(default_factory=list, description="JSONL / text files of evaluation items to check contamination against")
    reject_contaminated: bool = False
    entailment_judge: str = Field(default="auto", description="LLM entailment check of reworded claims in the grounding "
                                  "stage: auto (on for ollama / openai, off for the embedded model, which judges no "
                                  "better than chance), on, off")

    def params(self) -> ValidationParams:
        return ValidationParams(Thresholds(self.approve_threshold, self.review_threshold),
                                grounding_gate=self.grounding_gate, fair_share_multiple=self.fair_share_multiple,
                                near_jaccard=self.near_jaccard, semantic_cosine=self.semantic_cosine,
                                reject_contaminated=self.reject_contaminated)


def _preview(records, limit: int = 10) -> str:
    rows = [[r.decision, f"{r.score:.2f}", str(r.fields.get("instruction", ""))[:80], "; ".join(r.reasons)[:120]]
            for r in records[:limit]]
    return "\n".join(markdown_table(["decision", "score", "instruction", "reasons"], rows))


def _entailment_judge(mode: str, llm: LLMResource, con) -> EntailmentJudge | None:
    """The grounding stage's LLM judge when `mode` asks for it with this backend; its calls are
    cached in the warehouse like generation's, so re-validating asks the model nothing new."""
    return EntailmentJudge(CachedLLM(llm.client(), con)) if judge_enabled(mode, llm.backend) else None


def _remember_accepted(store_uri, records, embedder) -> int:
    """Approved records go to LanceDB `accepted_records` for later runs' dedup and novelty."""
    approved = [r for r in records if r.decision == AUTO_APPROVE and r.vector is not None]
    rows = [{"record_id": r.record_id, "text": record_text(r.fields), "path": r.paths[0], "chunk_id": r.chunk_ids[0],
             "topic": r.topic} for r in approved]
    import numpy as np

    if not approved:
        return 0
    vectors, signatures = np.stack([r.vector for r in approved]), np.stack([r.signature for r in approved])
    return add_accepted(store_uri, rows, vectors, signatures, embedder.identity)


@dg.asset(deps=[CANDIDATES], group_name="validate", kinds={"python", "duckdb", "lancedb"})
def validated_records(context: dg.AssetExecutionContext, config: ValidateConfig,
                      warehouse: WarehouseResource, vectors: VectorStoreResource, llm: LLMResource) -> dg.MaterializeResult:
    """Each winning candidate scored by schema, distribution, dedup, grounding and novelty, with a decision."""
    paths = context.instance.get_dynamic_partitions(documents_partitions.name)
    template = load_template(config.schema_name)
    eval_index = EvalIndex.build(load_eval_texts(config.eval_sets)) if config.eval_sets else None
    store, model = vectors.store(), vectors.embedder()
    store_uri = store.uri
    with warehouse.connect() as con:
        purged = purge_removed_documents(con, store, paths)
        judge = _entailment_judge(config.entailment_judge, llm, con)
        # vectors embedded ahead per slice (validate/vectors_ahead.py) or by earlier runs are looked up, not embedded
        embedder = StoredEmbedder(model, partial(nullcontext, con))
        records = validate_candidates(load_winners(con, paths), template.schema_name, template.json_schema, config.params(),
                                      embedder=embedder, prior=load_prior(store_uri, model), eval_index=eval_index,
                                      judge=judge)
        replace_records(con, records)
        replace_stage_counts(con, records.stages)
        record_run_facts(con, VALIDATE_FACTS, config.model_dump())  # the settings the export's data card names
        record_run_facts(con, EMBEDDING_FACTS, model.describe())  # the model behind the record vectors (manifest)
        vectors_dropped = keep_only(con, embedder.used)
        counts = decision_counts(con)
        counts |= review_counts(con)  # issue 7: reviews_pending, reviewed
    remembered_count = _remember_accepted(store_uri, records, model)
    duplicates = sum(1 for r in records if r.duplicate_of)
    judged = ({"entailment_judge": f"{llm.backend} {judge.llm.model}", "entailment_calls": judge.llm.misses,
               "entailment_cache_hits": judge.llm.hits, **judge.stats()} if judge else {"entailment_judge": "off"})
    return dg.MaterializeResult(
        metadata={"records": len(records), **counts, "documents": len(paths), "duplicates": duplicates, **judged,
                  "accepted_stored": remembered_count, "embedding_model": model.identity, "texts_embedded": embedder.embedded,
                  "texts_stored_before": embedder.hits, "text_vectors_dropped": vectors_dropped,
                  "documents_purged": len(purged), "preview": dg.MetadataValue.md(_preview(records)),
                  "stages": dg.MetadataValue.json({name: c.as_dict() for name, c in records.stages.items()})}
    )


@dg.asset_check(asset=validated_records, blocking=True,
                description="Schema stage: records table conforms (pandera) and every kept record matches its JSON Schema.")
def records_table_conforms(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        df = con.execute("SELECT record_id, schema_name, score, decision, fields_json FROM records").df()
    failures = records_table_failures(df.drop(columns=["fields_json"]))
    kept = df[df["decision"] != AUTO_REJECT]
    failures += schema_failures(kept)
    return dg.AssetCheckResult(passed=not failures, metadata={"rows": len(df), "kept": len(kept),
                                                               "failures": "\n".join(failures) or "none"})


@dg.asset_check(asset=validated_records, description="No source document holds more than its allowed share of approved records.")
def sources_balanced(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_path, sum(records) FROM distribution_by_source_topic WHERE decision = 'AUTO_APPROVE' GROUP BY ALL"
        ).fetchall()
    total = sum(n for _, n in rows) or 1
    shares = {path: n / total for path, n in rows}
    skewed = overrepresented_sources(shares, ValidateConfig().fair_share_multiple)
    return dg.AssetCheckResult(
        passed=not skewed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"shares": dg.MetadataValue.json({p: round(s, 4) for p, s in shares.items()}),
                  "picture": dg.MetadataValue.md(markdown_shares("source (approved records)", shares, allowed_share(
                      len(shares), ValidateConfig().fair_share_multiple))),
                  "overrepresented": ", ".join(skewed) or "none"},
    )


class DistributionCheckConfig(dg.Config):
    fair_share_multiple: float = 1.5
    min_chars: int = 20
    max_chars: int = 4000
    max_kl: float = 0.5
    seed_examples: str = Field(default="", description="JSONL of seed examples to compare topic and length shares with")


@dg.asset_check(asset=validated_records, description="Distribution stage (Great Expectations): shares per source, topic, "
                "difficulty, schema and MCQ option, length band, KL divergence from seed examples, over the kept records.")
def distribution_within_bounds(config: DistributionCheckConfig, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import json

    with warehouse.connect() as con:
        rows = con.execute("SELECT fields_json, paths, topic, schema_name, generation_json FROM records "
                           "WHERE decision != 'AUTO_REJECT'").fetchall()
    df = record_rows([{"fields": json.loads(f), "paths": list(p), "topic": t, "schema_name": s, "generation": json.loads(g or "{}")}
                      for f, p, t, s, g in rows])
    seed = seed_rows(load_seed_examples(config.seed_examples)) if config.seed_examples else None
    bounds = DistributionBounds(config.fair_share_multiple, config.min_chars, config.max_chars, max_kl=config.max_kl)
    passed, failures, tables = run_suite(df, bounds, seed)
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"records": len(df), "failures": "\n".join(failures) or "none",
                                         "distributions": dg.MetadataValue.md(distributions_markdown(tables, bounds)),
                                         **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in tables.items()}})


@dg.asset_check(asset=validated_records, description="REQUIRE_REVIEW records still waiting for a person's decision (mbdg review).")
def reviews_pending(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        counts = review_counts(con)
    return dg.AssetCheckResult(passed=counts["reviews_pending"] == 0, severity=dg.AssetCheckSeverity.WARN, metadata=counts)
