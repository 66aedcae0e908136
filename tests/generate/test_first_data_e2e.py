"""Issue 13 end to end: the embedded model's default (extractive answers, batched candidates)
yields approved records on the sample documents, each answering with the fact its target chose."""

import json
import re
from pathlib import Path

import pytest

from mbdg_assets.cli.run import run_pipeline
from mbdg_assets.llm.prompts import question_schema
from resources import LLMResource

pytestmark = pytest.mark.slow
DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs"


def test_embedded_model_yields_approved_extractive_records(tmp_path, monkeypatch):
    monkeypatch.delenv("MBDG_SIGNING_KEY", raising=False)
    generate = {"schema_name": "instruction_pair", "k": 4, "max_targets_per_document": 3, "seed": 0}
    summary = run_pipeline(DOCS, tmp_path / "out", tmp_path / "project", LLMResource(), generate, echo=lambda _: None)
    assert summary.dataset_error is None and not summary.failures
    approved = [json.loads(line) for line in (tmp_path / "out" / "dataset.jsonl").read_text().splitlines()]
    assert approved and summary.decisions.get("AUTO_APPROVE") == len(approved)
    pattern = question_schema()["properties"]["question"]["pattern"]
    sources = "\n".join(p.read_text() for p in DOCS.iterdir())
    for record in approved:
        generation = record["generation"]
        assert generation["answer_mode"] == "extractive" and generation["fact_id"]
        assert record["output"] == generation["fact"] and record["score"] >= 0.9
        assert re.match(pattern, record["instruction"])  # a question, not a heading or an echo of the prompt
        assert " ".join(record["output"].split()[:6]) in " ".join(sources.split())  # the answer is the document's sentence
    assert summary.coverage["facts_covered"] == len({r["generation"]["fact_id"] for r in approved})
