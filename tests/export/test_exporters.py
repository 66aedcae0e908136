"""Training formats as a trainer reads them: each export loaded with Hugging Face `datasets`, and
the fields TRL's SFTTrainer (messages) and DPOTrainer (prompt/chosen/rejected) read checked."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import datasets
import pytest

from export_fixtures import export_and_sign
from mbdg_assets.export.record_files import ExportOptions
from mbdg_assets.export.review_decisions import add_review_decision
from mbdg_assets.manifest.signed_manifest import verify_out_dir

datasets.disable_progress_bars()


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    return export_and_sign(tmp_path / "a")[0]


def _load(out: Path, fmt: str, ext: str, cache: Path) -> datasets.DatasetDict:
    files = {split: str(out / fmt / f"{split}.{ext}") for split in ("train", "eval") if (out / fmt / f"{split}.{ext}").exists()}
    return datasets.load_dataset("json" if ext == "jsonl" else "parquet", data_files=files, cache_dir=str(cache))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_chat_and_alpaca_load_with_the_fields_sft_reads(exported: Path, tmp_path: Path, ext: str):
    chat = _load(exported, "chat", ext, tmp_path / "cache")
    assert set(chat) == {"train", "eval"} and chat["train"].num_rows + chat["eval"].num_rows == 6
    for row in chat["train"]:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert all(isinstance(m["content"], str) and m["content"] for m in row["messages"])
    alpaca = _load(exported, "alpaca", ext, tmp_path / "cache")
    assert {"instruction", "input", "output"} <= set(alpaca["train"].column_names)
    first = alpaca["train"][0]
    assert all(isinstance(first[k], str) for k in ("instruction", "input", "output"))


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_dpo_loads_with_prompt_chosen_rejected_strings(exported: Path, tmp_path: Path, ext: str):
    dpo = _load(exported, "dpo", ext, tmp_path / "cache")
    rows = [row for split in dpo.values() for row in split]
    assert len(rows) == 5  # six approved records; one has no sibling worse by 0.05 (gap 0.02)
    for row in rows:
        assert all(isinstance(row[k], str) and row[k] for k in ("prompt", "chosen", "rejected"))
        assert row["chosen"] != row["rejected"] and row["reward_gap"] >= 0.05
        assert row["reward_gap"] == pytest.approx(row["reward_chosen"] - row["reward_rejected"], abs=1e-4)


def test_records_parquet_keeps_the_contract(exported: Path, tmp_path: Path):
    records = _load(exported, "records", "parquet", tmp_path / "cache")
    row = records["train"][0]
    assert set(row["stage_scores"]) == {"schema", "distribution", "dedup", "grounding", "novelty"}
    assert row["generation"]["model"] and row["chunk_ids"] and row["split"] == "train"


def test_export_folder_loads_by_config_name(exported: Path, tmp_path: Path):
    chat = datasets.load_dataset(str(exported), "chat", cache_dir=str(tmp_path / "cache"))
    dpo = datasets.load_dataset(str(exported), "dpo", cache_dir=str(tmp_path / "cache"))
    assert chat["train"].num_rows > 0 and "messages" in chat["train"].column_names
    assert {"prompt", "chosen", "rejected"} <= set(dpo["train"].column_names)


def test_split_keeps_each_chunk_on_one_side_in_every_format(exported: Path):
    train, evaluation = _lines(exported / "records" / "train.jsonl"), _lines(exported / "records" / "eval.jsonl")
    assert train and evaluation
    assert not {c for r in train for c in r["chunk_ids"]} & {c for r in evaluation for c in r["chunk_ids"]}
    for fmt in ("alpaca", "chat", "dpo"):
        assert {r["record_id"] for r in _lines(exported / fmt / "eval.jsonl")} <= {r["record_id"] for r in evaluation}
        assert {r["record_id"] for r in _lines(exported / fmt / "train.jsonl")} <= {r["record_id"] for r in train}


def test_same_seed_same_split_and_min_gap_is_configurable(tmp_path: Path):
    first = export_and_sign(tmp_path / "a")[0]
    second = export_and_sign(tmp_path / "b")[0]
    assert (first / "records" / "eval.jsonl").read_bytes() == (second / "records" / "eval.jsonl").read_bytes()
    strict = export_and_sign(tmp_path / "c", options=ExportOptions(eval_fraction=0.25, dpo_min_gap=0.3))[0]
    pairs = _lines(strict / "dpo" / "train.jsonl") + _lines(strict / "dpo" / "eval.jsonl")
    assert len(pairs) == 3 and all(p["reward_gap"] >= 0.3 for p in pairs)


def _reviews(con, ids: list[str]) -> None:
    then = datetime(2026, 11, 1, tzinfo=timezone.utc)
    add_review_decision(con, ids[6], "approve", "ana", "checked against the handbook", decided_at=then)
    add_review_decision(con, ids[0], "edit", "ana", "tighter answer", {"output": "182 degrees, then load"}, decided_at=then)
    add_review_decision(con, ids[1], "reject", "bo", "wrong section", decided_at=then)
    add_review_decision(con, ids[2], "reject", "bo", "first look", decided_at=then)
    add_review_decision(con, ids[2], "approve", "bo", "second look", decided_at=then + timedelta(hours=1))


def test_latest_review_decision_shapes_the_export_and_the_manifest(tmp_path: Path):
    out, _, ids = export_and_sign(tmp_path / "a", reviews=_reviews)
    dataset = {r["record_id"]: r for r in _lines(out / "dataset.jsonl")}
    assert ids[6] in dataset and dataset[ids[6]]["decision"] == "REQUIRE_REVIEW" and dataset[ids[6]]["review"]["reviewer"] == "ana"
    assert ids[1] not in dataset and ids[1] in {r["record_id"] for r in _lines(out / "rejected.jsonl")}
    assert ids[2] in dataset and dataset[ids[2]]["review"]["reason"] == "second look"
    edited = dataset[ids[0]]
    assert edited["output"] == "182 degrees, then load" and edited["original_fields"]["output"] == "180 degrees"
    assert edited["review"]["edited_fields"] == ["output"]
    chat_outputs = {r["record_id"]: r["messages"][1]["content"]
                    for split in ("train", "eval") for r in _lines(out / "chat" / f"{split}.jsonl")}
    assert chat_outputs[ids[0]] == "182 degrees, then load"
    manifest = {r["record_id"]: r for r in json.loads((out / "manifest.json").read_text())["records"]}
    assert manifest[ids[0]]["review"]["edited_fields"] == {"output": "182 degrees, then load"}
    assert manifest[ids[1]]["export_set"] == "rejected" and manifest[ids[6]]["export_set"] == "dataset"
    with pytest.raises(ValueError):
        add_review_decision(None, ids[0], "maybe", "ana")


def test_data_card_names_model_licence_thresholds_rates_and_limits(exported: Path):
    card = (exported / "README.md").read_text()
    for expected in ("## Sources", "a.md", "SmolLM2-135M-Instruct", "Apache-2.0", "instruction_pair@v1",
                     "grounding_gate", "dpo_min_gap", "## Accept rate per stage", "| grounding | 6 | 8 | 75% |",
                     "## Distribution per source and topic", "| b.md | Cleaning | 2 | 0 |", "## Known limitations",
                     "Contamination"):
        assert expected in card, expected


def test_manifest_labels_surplus_records_as_the_export_did_under_max_records(tmp_path: Path):
    """--records N: the records beyond N go to surplus.jsonl; the signed manifest must say so too
    (it once re-ran the export query, which labelled them 'dataset' again)."""
    out, key, _ = export_and_sign(tmp_path / "a", options=ExportOptions(eval_fraction=0.25, max_records=3))
    manifest = json.loads((out / "manifest.json").read_text())
    surplus_ids = {line["record_id"] for line in _lines(out / "surplus.jsonl")}
    dataset_ids = {line["record_id"] for line in _lines(out / "dataset.jsonl")}
    assert len(dataset_ids) == 3 and len(surplus_ids) == 3
    sets = {entry["record_id"]: entry["export_set"] for entry in manifest["records"]}
    assert {i for i, s in sets.items() if s == "surplus"} == surplus_ids
    assert {i for i, s in sets.items() if s == "dataset"} == dataset_ids
    assert manifest["summary"]["funnel"]["export_sets"] == {"dataset": 3, "rejected": 1, "review": 1, "surplus": 3}
    assert all(sets[i] == "dataset" for i in dataset_ids) and verify_out_dir(out, key) == []
    assert "| in the training set | 3 | 38% |" in (out / "README.md").read_text()  # the card counts the same 3
