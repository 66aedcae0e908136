"""Phases 1-3 as one Dagster step: source_documents, enriched_chunks and candidates of a range of
document partitions.

The three are separate assets (each in the graph, in its phase's group, materialized and
selectable on its own: `can_subset`), computed by one multi-asset so that one step holds the
whole range. Over a large range against a model server that step prepares and generates at once
(defs/lanes.py) instead of extracting and embedding every document before the first model call;
because it is the step, not the launcher, that does so, `mbdg run`, a backfill launched from the
UI and the folder sensor's range runs take the same path at the same cost. Each phase's own code
is in defs/extract.py, defs/enrich.py and defs/generate.py.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from mbdg_assets.defs.enrich import ENRICHED_CHUNKS, ChunkingConfig, Enriched, enrich_documents, enrichment_result
from mbdg_assets.defs.extract import SOURCE_DOCUMENTS, Extracted, extract_documents, extraction_result
from mbdg_assets.defs.generate import CANDIDATES, GenerateConfig, generate_candidates
from mbdg_assets.defs.lanes import PIPELINE_FROM, PrepareWork, SlicePrepared, generate_with_lanes
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.run_configs import DOCUMENT_STEP, current_config, validate_settings
from mbdg_assets.defs.validate import ValidateConfig
from resources import LLMResource, ProjectResource, VectorStoreResource, WarehouseResource

PHASES = (SOURCE_DOCUMENTS.key, ENRICHED_CHUNKS.key, CANDIDATES.key)


class DocumentConfig(dg.Config):
    generate: GenerateConfig = Field(default_factory=GenerateConfig, description="Generation (candidates)")
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig, description="Chunk sizes (enriched_chunks)")
    pipeline: bool = Field(default=True, description=(
        f"Over {PIPELINE_FROM} or more documents against a model server, prepare later documents while earlier "
        "ones generate (defs/lanes.py); false: each phase for every document, then the next"))


def uses_lanes(selected: set[dg.AssetKey], backend: str, documents: int, pipeline: bool) -> bool:
    """Whether the step overlaps preparing and generating: all three phases are to be made, a
    server generates (the embedded model's decoding wants the CPU a prepare process would take),
    and the range is large enough to repay starting that process."""
    return pipeline and set(PHASES) <= selected and backend != "embedded" and documents >= PIPELINE_FROM


@dg.multi_asset(name=DOCUMENT_STEP, specs=[SOURCE_DOCUMENTS, ENRICHED_CHUNKS, CANDIDATES],
                partitions_def=documents_partitions, can_subset=True, backfill_policy=dg.BackfillPolicy.single_run())
def document_phases(context: dg.AssetExecutionContext, config: DocumentConfig, project: ProjectResource,
                    warehouse: WarehouseResource, llm: LLMResource, vectors: VectorStoreResource
                    ) -> Iterator[dg.MaterializeResult]:
    """Extract, enrich and generate the selected phases for every document of the run's
    partition range (a backfill is one run), with the lanes where they pay."""
    paths, selected = list(context.partition_keys), set(context.selected_asset_keys)
    if uses_lanes(selected, llm.backend, len(paths), config.pipeline):
        yield from _with_lanes(context, paths, config, project, warehouse, llm, vectors)
        return
    if SOURCE_DOCUMENTS.key in selected:
        yield extraction_result(paths, extract_documents(paths, project, warehouse))
    if ENRICHED_CHUNKS.key in selected:
        yield enrichment_result(paths, enrich_documents(paths, config.chunking, warehouse, vectors))
    if CANDIDATES.key in selected:
        yield generate_candidates(paths, config.generate, warehouse, llm, vectors, context.log)


def _with_lanes(context: dg.AssetExecutionContext, paths: list[str], config: DocumentConfig, project: ProjectResource,
                warehouse: WarehouseResource, llm: LLMResource, vectors: VectorStoreResource
                ) -> Iterator[dg.MaterializeResult]:
    """The three phases with a prepare process beside generation; the materializations are those
    a run without lanes makes. Generation's failure (a dead server) still materializes what was
    prepared, then fails the step."""
    schema = ValidateConfig(**validate_settings(current_config(project.paths))).schema_name
    work = PrepareWork.of(project, warehouse, vectors, config.chunking, schema)

    def generate(readiness) -> dg.MaterializeResult | dg.Failure:
        try:
            return generate_candidates(paths, config.generate, warehouse, llm, vectors, context.log, readiness)
        except dg.Failure as failure:  # errors as values: the prepared phases are reported first
            return failure

    slices, generated = generate_with_lanes(paths, work, generate, context.log.info)
    extracted, enriched = _gathered(slices)
    yield extraction_result(paths, extracted)
    yield enrichment_result(paths, enriched)
    if isinstance(generated, dg.Failure):
        raise generated
    yield generated


def _gathered(slices: list[SlicePrepared]) -> tuple[Extracted, Enriched]:
    """The slices' facts as one range's; each document of a slice that failed as a whole fails with its reason."""
    extracted, enriched = {}, Enriched()
    for piece in slices:
        if piece.failure:
            extracted |= {path: ({"path": path}, piece.failure) for path in piece.keys}
            enriched.failed |= {path: piece.failure for path in piece.keys}
        extracted |= piece.extracted
        enriched.add(piece.enriched)
    return extracted, enriched
