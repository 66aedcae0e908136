"""Novelty, contamination, verbatim copying, the distribution suite, cross-run memory and
`mbdg validate`, each on labelled cases built here."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mbdg_assets.validate.accepted_records import PriorRecords, add_accepted, load_prior
from mbdg_assets.validate.contamination import EvalIndex, contamination, longest_verbatim_run, verbatim_reason
from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT
from mbdg_assets.validate.distribution import distributions_markdown, markdown_shares, record_rows, run_suite, share_bar
from mbdg_assets.validate.novelty import coverage_gain, novelty
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.validate.stages import StageCounter, StageItem, StageResult, stage_summary
from mbdg_assets.validate.validator import record_text, validate_candidates

SCHEMA = load_template("instruction_pair").json_schema
CHUNK = {"chunk_id": "c-1", "doc_id": "d-1", "path": "policy.md", "topic": "Response times",
         "text": "The on-call engineer acknowledges a severity 1 page within 5 minutes. "
                 "An incident channel is opened within 15 minutes. Reviews are due within 5 working days."}


def _candidate(cid, instruction, output, reward=0.9, chunk=CHUNK):
    return {"candidate_id": cid, "fields": {"instruction": instruction, "input": "", "output": output},
            "reward": reward, "generation": {}, "chunk": chunk}


def test_novelty_separates_new_coverage_from_repetition():
    fresh = novelty(0.1, coverage_gain("c-2", "t", {"a", "b"}, {"c-1"}, {"t"}, {"a"}))
    repeat = novelty(0.95, coverage_gain("c-1", "t", {"a", "b"}, {"c-1"}, {"t"}, {"a", "b"}))
    assert fresh.score == 1.0 and repeat.score < 0.3 and repeat.reasons


def test_validator_novelty_is_lower_for_a_record_that_repeats_an_accepted_one():
    first = _candidate("1", "How fast is a severity 1 page acknowledged?", "Within 5 minutes, by the on-call engineer.")
    other = _candidate("2", "When is the incident channel opened?", "An incident channel is opened within 15 minutes.", 0.8)
    again = _candidate("3", "How quickly does on-call acknowledge a severity 1 page?", "The on-call engineer acknowledges it within 5 minutes.", 0.7)
    records = {r.candidate_id: r for r in validate_candidates([first, other, again], "instruction_pair", SCHEMA)}
    assert records["1"].stage_scores["novelty"] == 1.0
    assert records["3"].stage_scores["novelty"] < records["2"].stage_scores["novelty"]


def test_contamination_flags_eval_overlap_and_not_clean_records():
    eval_items = ["What is the boiling point of water at sea level in degrees Celsius under standard atmospheric pressure conditions?"]
    index = EvalIndex.build(eval_items)
    texts = ["Question: what is the boiling point of water at sea level in degrees Celsius under standard atmospheric pressure conditions? 100.",
             "How fast must a severity 1 page be acknowledged? Within 5 minutes."]
    found = contamination(texts, index)
    assert found[0] and "evaluation item 0" in found[0] and found[1] is None


def test_contaminated_record_is_rejected_only_when_asked():
    from mbdg_assets.validate.validator import ValidationParams

    question = "How fast must the on-call engineer acknowledge a severity 1 page according to the incident policy?"
    index = EvalIndex.build([question + " Within 5 minutes."])
    cand = _candidate("1", question, "The on-call engineer acknowledges a severity 1 page within 5 minutes.")
    [kept] = validate_candidates([cand], "instruction_pair", SCHEMA, eval_index=index)
    [rejected] = validate_candidates([cand], "instruction_pair", SCHEMA, ValidationParams(reject_contaminated=True), eval_index=index)
    assert any(r.startswith("contamination:") for r in kept.reasons) and kept.decision == AUTO_APPROVE
    assert rejected.decision == AUTO_REJECT


def test_verbatim_copying_of_a_long_passage_is_flagged():
    source = " ".join(f"word{i}" for i in range(100))
    assert longest_verbatim_run(" ".join(f"word{i}" for i in range(10, 60)), source) == 50
    assert verbatim_reason(" ".join(f"word{i}" for i in range(10, 60)), source)
    assert verbatim_reason("word1 word2 word3 and something else", source) is None


def _rows(sources, n=30):
    return record_rows([{"fields": {"instruction": "What is in the handbook section?", "output": "A fact stated in the passage, in one sentence."},
                         "paths": [sources(i)], "topic": f"t{i % 3}", "schema_name": "instruction_pair"} for i in range(n)])


def test_distribution_suite_passes_balanced_and_fails_skewed_datasets_with_the_reason():
    balanced = _rows(lambda i: f"doc{i % 3}.md")
    skewed = _rows(lambda i: "doc0.md" if i < 25 else f"doc{i % 3}.md")
    ok, failures, tables = run_suite(balanced)
    assert ok and not failures and tables["source_shares"]["doc0.md"] == pytest.approx(1 / 3, abs=0.01)
    ok, failures, tables = run_suite(skewed)
    assert not ok and "source" in failures[0] and "doc0.md" in failures[0]
    seed = record_rows([{"fields": {"instruction": "q?", "output": "x" * 3000}, "topic": "elsewhere"} for _ in range(5)])
    ok, failures, tables = run_suite(balanced, seed=seed)
    assert not ok and any("KL" in f for f in failures) and tables["kl_topic"] > 0.5


def test_accepted_records_persist_and_make_later_runs_duplicates(tmp_path):
    answer = "The on-call engineer acknowledges a severity 1 page within 5 minutes."
    [first] = validate_candidates([_candidate("1", "How fast is a severity 1 page acknowledged?", answer)], "instruction_pair", SCHEMA)
    add_accepted(tmp_path, [{"record_id": first.record_id, "text": record_text(first.fields), "path": "old.md",
                             "chunk_id": "c-0", "topic": "x"}],
                 np.ones((1, 4), dtype=np.float32) / 2, first.signature[None, :])
    prior = load_prior(tmp_path)
    assert prior.keys == [first.record_id] and prior.signatures.shape == (1, 128)
    later = _candidate("9", "HOW FAST IS A SEVERITY 1 PAGE ACKNOWLEDGED?", answer + " ")
    [record] = validate_candidates([later], "instruction_pair", SCHEMA, prior=prior)
    assert record.duplicate_of == first.record_id and record.decision == AUTO_REJECT
    # re-validating the same record (same id) is not a duplicate of itself
    [same] = validate_candidates([_candidate("1", "How fast is a severity 1 page acknowledged?", answer)], "instruction_pair", SCHEMA, prior=prior)
    assert same.duplicate_of is None
    assert PriorRecords().without(set(), set()).keys == []


def test_mbdg_validate_writes_one_line_per_record(tmp_path):
    from mbdg_assets.cli.main import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text("# Policy\n\n## Response times\n\n" + CHUNK["text"] + "\n", encoding="utf-8")
    records = tmp_path / "records.jsonl"
    lines = [{"id": "good", "instruction": "How fast is a severity 1 page acknowledged?", "input": "",
              "output": "The on-call engineer acknowledges a severity 1 page within 5 minutes."},
             {"id": "wrong-number", "instruction": "When is the incident channel opened?", "input": "",
              "output": "An incident channel is opened within 50 minutes."}]
    records.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    out = tmp_path / "report.jsonl"
    result = CliRunner().invoke(main, ["validate", str(records), "--sources", str(docs), "--out", str(out), "--no-embed"])
    assert result.exit_code == 0, result.output
    report = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in report] == ["good", "wrong-number", None]
    assert report[0]["decision"] == AUTO_APPROVE and report[0]["supporting_spans"][0]["path"] == "policy.md"
    assert set(report[0]["stage_scores"]) == {"schema", "distribution", "dedup", "grounding", "novelty"}
    assert report[1]["decision"] == AUTO_REJECT and any("50" in r for r in report[1]["reasons"])
    assert report[2]["decision"] == AUTO_REJECT


def test_schema_check_finds_kept_records_that_breach_their_json_schema():
    import pandas as pd

    from mbdg_assets.validate.records_table_checks import schema_failures

    good = {"instruction": "How fast is a severity 1 page acknowledged?", "input": "", "output": "Within 5 minutes."}
    df = pd.DataFrame([{"record_id": "ok", "schema_name": "instruction_pair", "fields_json": json.dumps(good)},
                       {"record_id": "bad", "schema_name": "instruction_pair", "fields_json": json.dumps(good | {"instruction": "Short"})},
                       {"record_id": "custom", "schema_name": "my_schema_file_stem", "fields_json": "{}"}])
    assert schema_failures(df) == ["bad: 'Short' is too short"]


def _difficulty_rows(difficulty, n=30):
    return record_rows([{"fields": {"instruction": "What is in the handbook section?", "output": "A fact stated in the passage, in one sentence."},
                         "paths": [f"doc{i % 3}.md"], "topic": f"t{i % 3}", "schema_name": "instruction_pair",
                         "generation": {"persona": "a new hire", "difficulty": difficulty(i)}} for i in range(n)])


def test_distribution_suite_checks_the_difficulty_asked_for():
    levels = ("easy", "medium", "hard")
    ok, failures, tables = run_suite(_difficulty_rows(lambda i: levels[i % 3]))
    assert ok and not failures and tables["difficulty_shares"] == {"easy": 0.3333, "medium": 0.3333, "hard": 0.3333}
    ok, failures, tables = run_suite(_difficulty_rows(lambda i: "easy" if i < 24 else levels[i % 3]))
    assert not ok and len(failures) == 1
    assert failures[0].startswith("difficulty:") and "'easy' 87%" in failures[0]
    no_styles = record_rows([{"fields": {"instruction": "q?", "output": "an answer of some length"}, "generation": {}}])
    assert no_styles["difficulty"].isna().all()  # styles not varied: no difficulty, nothing to check


def test_distribution_picture_is_a_markdown_table_with_bars():
    assert share_bar(0.5) == "█" * 10 and share_bar(0.225) == "████▌" and share_bar(0.0) == "" and share_bar(1.7) == "█" * 20
    ok, failures, tables = run_suite(_difficulty_rows(lambda i: "easy" if i < 24 else ("medium", "hard")[i % 2]))
    picture = distributions_markdown(tables)
    assert "| difficulty (at most 50% each) | share |" in picture
    assert "| easy | `████████████████` 80% **over 50%** |" in picture
    assert "| medium | `██` 10% |" in picture and "answer option" not in picture  # no MCQ records, no table
    lengths = picture.split("| length in characters")[1]
    assert "| 0-100 | `████████████████████` 100% |" in lengths
    assert markdown_shares("source", {"a|b.md": 1.0}).splitlines()[2].startswith("| a\\|b.md |")


def test_distribution_check_reads_difficulty_from_the_records_table(tmp_path):
    from mbdg_assets.storage import warehouse
    from mbdg_assets.defs.validate import DistributionCheckConfig, distribution_within_bounds
    from resources import WarehouseResource

    path = tmp_path / "warehouse.duckdb"
    fields = json.dumps({"instruction": "What is in the handbook section?", "input": "", "output": "A fact stated in the passage."})
    with warehouse.connect(path) as con:
        for i in range(12):
            con.execute("INSERT INTO records (record_id, schema_name, fields_json, paths, topic, decision, generation_json) "
                        "VALUES (?, 'instruction_pair', ?, [?], 'Policy', 'AUTO_APPROVE', ?)",
                        [f"record-{i:03d}", fields, f"doc{i % 3}.md", json.dumps({"difficulty": "hard" if i < 10 else "easy"})])
    result = distribution_within_bounds(DistributionCheckConfig(), WarehouseResource(path=str(path)))
    assert not result.passed and "difficulty" in result.metadata["failures"].text and "'hard'" in result.metadata["failures"].text
    picture = result.metadata["distributions"].value  # 2 groups: each may hold 75%
    assert "| hard | `████████████████▋` 83% **over 75%** |" in picture and "| easy | `███▍` 17% |" in picture


def test_stage_counts_come_from_the_stage_results_not_from_reason_strings():
    good = _candidate("1", "How fast is a severity 1 page acknowledged?", "Within 5 minutes, by the on-call engineer.")
    copy = _candidate("2", "How fast is a severity 1 page acknowledged?", "Within 5 minutes, by the on-call engineer.", 0.5)
    broken = _candidate("3", "When is the incident channel opened?", "") | {"fields": {"instruction": "When?"}}
    records = validate_candidates([good, copy, broken], "instruction_pair", SCHEMA)
    stages = records.stages
    assert all(c.kept + c.flagged == 3 for c in stages.values())
    assert (stages["dedup"].flagged, stages["dedup"].failed, dict(stages["dedup"].kinds)) == (1, 1, {"exact_duplicate": 1})
    assert stages["schema"].failed >= 1 and stages["schema"].kinds["invalid"] == 1
    for name, counts in stages.items():  # each stage's tally matches the reasons it gave the records
        assert counts.flagged == sum(any(r.startswith(f"{name}:") for r in rec.reasons) for rec in records)
    assert "dedup 2/3 (exact_duplicate 1)" in stage_summary(stages)


def test_a_stage_counter_counts_kept_flagged_and_failed_per_kind():
    class Odd:
        name = "odd"

        def check(self, item):
            if item.index % 2:
                return StageResult(0.0, ("odd: odd position",), "odd", hard_fail=item.index == 1)
            return StageResult(1.0)

    counter = StageCounter([Odd()])
    results = [counter.check(StageItem(i, {}, {"chunk": CHUNK}, "", "")) for i in range(5)]
    assert [r["odd"].kept for r in results] == [True, False, True, False, True]
    counts = counter.counts["odd"]
    assert (counts.kept, counts.flagged, counts.failed, dict(counts.kinds)) == (3, 2, 1, {"odd": 2})


