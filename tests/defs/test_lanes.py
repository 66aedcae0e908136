"""The document step's choice of lanes (defs/documents.py) and what a prepare process that fails
does to generation and to the step's materializations (defs/lanes.py). The lanes' overlap and
decisions over a whole run are in tests/cli/test_range_runs.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mbdg_assets.defs.documents import PHASES, _gathered, uses_lanes
from mbdg_assets.defs.enrich import ChunkingConfig, enrichment_result
from mbdg_assets.defs.extract import extraction_result
from mbdg_assets.defs.lanes import PIPELINE_FROM, PrepareWork, generate_with_lanes, slice_keys
from resources import ProjectResource, VectorStoreResource, WarehouseResource


def test_lanes_only_for_all_three_phases_of_a_large_range_against_a_server():
    everything = set(PHASES)
    assert uses_lanes(everything, "openai", PIPELINE_FROM, True)
    assert uses_lanes(everything, "ollama", 10_000, True)
    assert not uses_lanes(everything, "embedded", 10_000, True)  # its decoding wants the CPU
    assert not uses_lanes(everything, "openai", PIPELINE_FROM - 1, True)  # the process start would not pay
    assert not uses_lanes(everything, "openai", 10_000, False)  # --no-pipeline
    assert not uses_lanes({dg.AssetKey("candidates")}, "openai", 10_000, True)  # a --records round: nothing to prepare


def test_a_slice_that_cannot_be_prepared_lets_its_documents_go_with_the_reason(tmp_path: Path):
    """The prepare process cannot open the warehouse (a folder stands in its place): every slice
    fails as a whole, generation is not left waiting, each document is released with the reason,
    and the step's materializations name every document as failed with it."""
    (tmp_path / "warehouse.duckdb").mkdir()
    docs = tmp_path / "docs"
    docs.mkdir()
    paths = [f"doc-{i:03d}.md" for i in range(20)]
    for name in paths:
        (docs / name).write_text(f"# {name}\n\nSome text.\n")
    work = PrepareWork.of(ProjectResource(project_dir=str(tmp_path / "project"), docs_dir=str(docs)),
                          WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
                          VectorStoreResource(uri=str(tmp_path / "lancedb")), ChunkingConfig(), "")
    released: dict[str, str | None] = {}

    def generate(readiness) -> int:
        for path in paths:
            released[path] = readiness.wait(path)
        return len(released)

    slices, generated = generate_with_lanes(paths, work, generate, lambda _message: None)
    assert generated == len(paths) and [piece.index for piece in slices] == list(range(len(slice_keys(paths))))
    assert all(reason and "warehouse.duckdb" in reason for reason in released.values()), released
    extracted, enriched = _gathered(slices)
    extraction = extraction_result(paths, extracted).metadata
    enrichment = enrichment_result(paths, enriched).metadata
    assert extraction["failed"] == enrichment["failed"] == len(paths)
    assert extraction["failures"].value == released
