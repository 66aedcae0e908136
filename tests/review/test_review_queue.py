"""Review queue logic without a web server: ordering, filters, decisions with the optimistic check,
undo, edits, calibration and the counts Dagster reports."""

from __future__ import annotations

import pytest
from review_fixtures import REVIEW_IDS, SCRIPT, build_review_warehouse

from mbdg_assets.storage import warehouse
from mbdg_assets.validate.decisions import Thresholds
from mbdg_assets.export.record_files import export_dataset
from mbdg_assets.review import actions, calibration, queue


@pytest.fixture
def wh(tmp_path):
    return build_review_warehouse(tmp_path / "warehouse.duckdb")


def test_queue_puts_the_most_uncertain_first_and_only_undecided_review_records(wh):
    with warehouse.connect(wh) as con:
        items = queue.load_queue(con)
    assert [i.record_id for i in items] == ["rev-near", "rev-xss", "rev-split", "rev-calm"]
    assert items[0].nearest_threshold == 0.90 and items[1].nearest_threshold == 0.70


def test_uncertainty_weighs_threshold_closeness_and_stage_disagreement():
    even = {s: 0.8 for s in queue.STAGES}
    assert queue.uncertainty(0.80, even)[0] == 0.0
    assert queue.uncertainty(0.70, even)[0] == 0.5
    assert queue.uncertainty(0.80, even | {"grounding": 0.2})[0] == pytest.approx(0.3)


def test_filters_by_source_topic_schema_and_reason(wh):
    with warehouse.connect(wh) as con:
        by = lambda **f: [i.record_id for i in queue.load_queue(con, queue.QueueFilters(**f))]  # noqa: E731
        assert by(source="b.md") == ["rev-xss", "rev-calm"]
        assert by(topic="Roasting") == ["rev-near", "rev-split"]
        assert by(reason="grounding") == ["rev-xss", "rev-split"]
        assert by(schema="mcq") == []
        assert queue.filter_options(con)["reason"] == ["grounding", "novelty"]


def test_record_page_has_siblings_stage_reasons_and_highlighted_spans(wh):
    with warehouse.connect(wh) as con:
        page = queue.load_record(con, "rev-split")
        assert queue.load_record(con, "rev-") is None  # a prefix is not an id
    assert [c["rank"] for c in page.candidates] == [0, 1, 2] and page.candidates[0]["winner"]
    assert "runner-up rank 1" in page.why_winner and "1 sibling(s) malformed" in page.why_winner
    assert page.stage_reasons["grounding"] == ["grounding: only 40% of the answer is supported by the source"]
    assert [t for t, marked in page.segments if marked] == ["The roaster preheats to 200 degrees"]
    assert page.document["path"] == "a.md" and page.chunk["pages"]


def test_highlight_segments_merge_and_clip():
    assert queue.highlight_segments("abcdef", [{"start": 1, "end": 3}, {"start": 2, "end": 4}, {"start": 5, "end": 99}]) == [
        ("a", False), ("bcd", True), ("e", False), ("f", True)]
    assert queue.highlight_segments("", []) == [("", False)]


def test_decision_leaves_the_queue_and_a_stale_second_tab_is_refused(wh):
    with warehouse.connect(wh) as con:
        seen = actions.decision_version(con, "rev-near")        # both tabs render the same version
        actions.record_decision(con, "rev-near", "approve", "ann", seen)
        with pytest.raises(actions.DecisionConflict, match="approve by ann"):
            actions.record_decision(con, "rev-near", "reject", "bob", seen, "wrong")
        assert [r["decision"] for r in actions.history(con, "rev-near")] == ["approve"]
        assert "rev-near" not in [i.record_id for i in queue.load_queue(con)]
        assert queue.review_counts(con) == {"reviews_pending": 3, "reviewed": 1}


def test_undo_removes_the_last_decision_only_if_unchanged(wh):
    with warehouse.connect(wh) as con:
        actions.record_decision(con, "rev-calm", "reject", "ann", actions.NO_DECISION, "vague")
        last = actions.last_decision_by(con, "ann")
        assert last["record_id"] == "rev-calm" and last["decision"] == "reject"
        assert actions.undo_decision(con, "rev-calm", last["version"])["decision"] == "reject"
        with pytest.raises(actions.DecisionConflict):
            actions.undo_decision(con, "rev-calm", last["version"])
        assert "rev-calm" in [i.record_id for i in queue.load_queue(con)]
        assert actions.last_decision_by(con, "ann") is None


def test_edited_fields_keep_only_changes_and_parse_json_fields():
    original = {"instruction": "Q?", "output": "A.", "options": {"A": "x"}}
    assert actions.edited_fields(original, {"instruction": "Q?", "output": "Better.\r\n", "options": '{"A": "x"}'}) == {
        "output": "Better.\n"}
    assert actions.edited_fields(original, {"options": '{"A": "y"}'}) == {"options": {"A": "y"}}
    with pytest.raises(ValueError, match="not valid JSON"):
        actions.edited_fields(original, {"options": "{"})


def test_export_follows_the_decisions(wh, tmp_path):
    with warehouse.connect(wh) as con:
        actions.record_decision(con, "rev-near", "approve", "ann", actions.NO_DECISION)
        actions.record_decision(con, "rev-split", "reject", "ann", actions.NO_DECISION, "unsupported")
        actions.record_decision(con, "rev-calm", "edit", "ann", actions.NO_DECISION, "", {"output": "Fixed."})
        result = export_dataset(con, tmp_path / "out")
    where = {r["record_id"]: r["export_set"] for r in result.rows}
    assert where == {"rev-near": "dataset", "rev-split": "rejected", "rev-calm": "dataset", "rev-xss": "review",
                     "auto-ok": "dataset", "auto-no": "rejected"}
    edited = next(line for line in result.dataset if line["record_id"] == "rev-calm")
    assert edited["output"] == "Fixed." and edited["original_fields"]["output"] == "The roaster preheats to 200 degrees."


def _rows(pairs):
    return [{"score": s, "accepted": a, "reviewer": "ann", "decision": "REQUIRE_REVIEW", "stage_scores": {}} for s, a in pairs]


def test_calibration_suggests_the_band_the_decisions_support():
    rows = _rows([(0.71, False), (0.73, False), (0.76, False), (0.78, True), (0.75, True), (0.80, True),
                  (0.82, True), (0.85, True), (0.88, True), (0.72, False)])
    cal = calibration.calibrate(rows, Thresholds())
    assert cal.suggested == Thresholds(approve=0.77, review=0.75)
    assert cal.best_agreement == pytest.approx(0.9) and cal.midpoint_agreement == pytest.approx(0.8)
    separated = calibration.calibrate(_rows([(0.72, False)] * 5 + [(0.84, True)] * 5))
    assert separated.suggested == Thresholds(approve=0.84, review=0.73) and separated.best_agreement == 1.0
    few = calibration.calibrate(_rows([(0.8, True)]))
    assert few.suggested is None and few.notes
    assert "approve_threshold: 0.84" in calibration.run_config_hint(separated.suggested)


def test_calibration_reads_latest_decisions_from_the_warehouse(wh):
    with warehouse.connect(wh) as con:
        actions.record_decision(con, "rev-near", "approve", "ann", actions.NO_DECISION)
        v = actions.record_decision(con, "rev-xss", "approve", "ann", actions.NO_DECISION)
        actions.record_decision(con, "rev-xss", "reject", "bob", v, SCRIPT)
        rows = calibration.reviewed_rows(con)
    assert [(r["record_id"], r["accepted"], r["reviewer"]) for r in rows] == [("rev-xss", False, "bob"), ("rev-near", True, "ann")]
    assert "reviewed: 2" in calibration.format_calibration(calibration.calibrate(rows))


def test_dagster_check_warns_while_reviews_are_pending(wh):
    import dagster as dg

    from mbdg_assets.defs.validate import reviews_pending
    from resources import WarehouseResource

    result = reviews_pending(warehouse=WarehouseResource(path=str(wh)))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["reviews_pending"].value == 4
    with warehouse.connect(wh) as con:
        for record_id in REVIEW_IDS:
            actions.record_decision(con, record_id, "approve", "ann", actions.NO_DECISION)
    assert reviews_pending(warehouse=WarehouseResource(path=str(wh))).passed


def test_a_reviewed_export_differs_from_the_unreviewed_one_only_by_the_decisions(wh, tmp_path):
    def dataset(out):
        with warehouse.connect(wh) as con:
            return {x["record_id"]: {k: v for k, v in x.items() if k != "split"} for x in export_dataset(con, out).dataset}

    before = dataset(tmp_path / "before")
    with warehouse.connect(wh) as con:
        actions.record_decision(con, "rev-near", "approve", "ann", actions.NO_DECISION)
        actions.record_decision(con, "rev-calm", "edit", "ann", actions.NO_DECISION, "", {"output": "Fixed."})
        actions.record_decision(con, "auto-ok", "reject", "ann", actions.NO_DECISION, "wrong")
    after = dataset(tmp_path / "after")
    assert set(after) == set(before) - {"auto-ok"} | {"rev-near", "rev-calm"}
    assert all(after[r] == before[r] for r in set(before) & set(after))
    assert after["rev-near"]["review"]["decision"] == "approve" and after["rev-calm"]["review"]["edited_fields"] == ["output"]
