"""The candidates asset (the document step, mbdg_assets/defs/documents.py, with only candidates
selected) materialized for one document partition, against a fake OpenAI-compatible server (the
wire protocol only: no quality claim rests on its answers), so the asset's own wiring is tested,
not just the plain logic below it."""

from pathlib import Path

import dagster as dg
import pytest

from fake_llm_servers import fake_llm_server, instruction_pair_responder  # noqa: F401
from mbdg_assets.defs import generate as generate_asset_module
from mbdg_assets.defs.documents import document_phases
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.enrich.chunking import chunk_document
from mbdg_assets.extract.extraction import extract_document
from mbdg_assets.storage import warehouse
from mbdg_assets.generate.planning import document_plan, pass_sizes
from mbdg_assets.storage.tables import load_chunks, load_plan_sizes, replace_chunks, store_document
from resources import LLMResource, ProjectResource, VectorStoreResource, WarehouseResource

TEXT = ("# Roasting\n\nThe roaster preheats the drum to 200 degrees before the first batch of the day.\n\n"
        "## Cooling\n\nBeans cool in the tray for four minutes while the stirring arm turns them.\n")


def test_config_rejects_an_unknown_target_kind():
    with pytest.raises(dg.Failure, match="unknown target kind"):
        generate_asset_module.GenerateConfig(target_kinds=["base", "sideways"]).params("openai")


def test_candidates_asset_writes_k_candidates_per_target_and_one_winner(tmp_path: Path, fake_llm_server):
    fake_llm_server.responder = instruction_pair_responder()
    doc_path = tmp_path / "roastery.md"
    doc_path.write_text(TEXT)
    wh = tmp_path / "warehouse.duckdb"
    with warehouse.connect(wh) as con:
        doc = extract_document(doc_path)
        chunks = chunk_document(doc)
        store_document(con, "roastery.md", doc)
        replace_chunks(con, "roastery.md", chunks, ["Roasting"] * len(chunks))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(documents_partitions.name, ["roastery.md"])
    resources = {"warehouse": WarehouseResource(path=str(wh)), "vectors": VectorStoreResource(uri=str(tmp_path / "lancedb")),
                 "llm": LLMResource(backend="openai", model="fake", host=fake_llm_server.openai_base_url),
                 "project": ProjectResource(project_dir=str(tmp_path / "project"))}
    config = {"ops": {"document_phases": {"config": {"generate": {"k": 2, "max_targets_per_document": 2,
                                                                 "target_kinds": ["base"]}}}}}
    result = dg.materialize([document_phases], instance=instance, resources=resources, partition_key="roastery.md",
                            run_config=config, selection=[generate_asset_module.CANDIDATES.key])
    assert result.success
    metadata = result.asset_materializations_for_node("document_phases")[0].metadata  # candidates only: selected alone
    with warehouse.connect(wh) as con:
        rows = con.execute("SELECT target_id, is_winner, fields_json IS NOT NULL FROM candidates WHERE path = 'roastery.md'").fetchall()
    targets = {t for t, _, _ in rows}
    assert len(rows) == 2 * len(targets) == metadata["candidates"].value and len(targets) == metadata["targets"].value
    assert all(parsed for _, _, parsed in rows)
    assert sum(w for _, w, _ in rows) == len(targets) == metadata["winners"].value  # one winner per target
    assert metadata["llm_calls"].value == len(fake_llm_server.requests) > 0 and metadata["backend"].value == "openai"
    assert 0 < metadata["mean_winner_reward"].value <= 1
    with warehouse.connect(wh) as con:  # the whole plan's pass sizes, recorded for the --records rounds
        recorded, stored_chunks = load_plan_sizes(con, ["roastery.md"]), load_chunks(con, "roastery.md")
    assert recorded == {"roastery.md": pass_sizes(document_plan(stored_chunks, "", None, ("base",)))}
    assert recorded["roastery.md"][0] >= len(targets)  # the plan holds at least the targets asked

