"""The export phase through Dagster (`materialize` against a hand-built warehouse, no model) and
`mbdg lineage` reading the same warehouse."""

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from export_fixtures import build_warehouse
from mbdg_assets.cli.main import main
from mbdg_assets.manifest.signed_manifest import verify_out_dir
from mbdg_assets.manifest.signing import load_or_create_key
from mbdg_assets.defs.export import run_manifest, training_dataset
from resources import ProjectResource, SignerResource, WarehouseResource


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MBDG_SIGNING_KEY", raising=False)
    root = tmp_path / "project"
    build_warehouse(root / "warehouse.duckdb")
    return root


def test_export_assets_write_sign_and_report(project: Path, tmp_path: Path):
    out = tmp_path / "out"
    resources = {"project": ProjectResource(project_dir=str(project), out_dir=str(out)),
                 "warehouse": WarehouseResource(path=str(project / "warehouse.duckdb")),
                 "signer": SignerResource(key_dir=str(project / "keys"))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", ["a.md", "b.md"])
        result = dg.materialize([training_dataset, run_manifest], resources=resources, instance=instance)
    assert result.success
    exported = result.asset_materializations_for_node("training_dataset")[0].metadata
    assert exported["dataset.jsonl"].value == 6 and exported["train"].value + exported["eval"].value == 6
    assert "| split | score | instruction | output |" in exported["preview"].value
    assert "chat/train.parquet" in exported["files"].value and exported["preference_pairs"].value == 5
    signed = result.asset_materializations_for_node("run_manifest")[0].metadata
    key = load_or_create_key(project / "keys")
    manifest = json.loads((out / "manifest.json").read_text())
    assert signed["key_id"].value == key.key_id == manifest["signature"]["key_id"]
    assert signed["signature"].value == manifest["signature"]["value"]
    assert manifest["parameters"]["validation"]["approve_threshold"] == 0.9  # ValidateConfig defaults: no validation run
    assert {s["path"] for s in manifest["sources"]} == {"a.md", "b.md"}
    assert "README.md" in manifest["files"] and verify_out_dir(out, key) == []


def test_lineage_traces_a_record_to_siblings_chunk_page_and_span(project: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["lineage", "run-rec05", "--project", str(project)])
    assert result.exit_code == 0, result.output
    for expected in ("record run-rec05", "document b.md", "chunk chunk05", "page(s): 1", "Roasting > Step 1",
                     "* rank 0 seed 0  reward 0.900", "rank 1 seed 1  reward 0.800", "malformed answer", "grounding 0.950"):
        assert expected in result.output, expected
    trace = json.loads(runner.invoke(main, ["lineage", "run-rec05", "--json", "--project", str(project)]).output)
    span = trace["supporting_spans"][0]
    assert span["doc_start"] == trace["chunk"]["start_char"] and span["text"] == "Section 1 of b.md. T"
    assert [c["rank"] for c in trace["candidates"]] == [0, 1, 2]


def test_lineage_explains_unknown_and_ambiguous_ids(project: Path):
    runner = CliRunner()
    unknown = runner.invoke(main, ["lineage", "nope", "--project", str(project)])
    assert unknown.exit_code == 1 and "no record 'nope'" in unknown.output
    ambiguous = runner.invoke(main, ["lineage", "run-rec0", "--project", str(project)])
    assert ambiguous.exit_code == 1 and "more than one record" in ambiguous.output
