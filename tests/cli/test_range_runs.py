"""The document step's prepare and generate lanes (defs/lanes.py): slices that cover the range
once, and a run against a model server, launched as a UI backfill launches it, whose generation
overlaps the preparing of later slices and whose records equal a run without lanes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fake_llm_servers import Scripted, instruction_pair_responder, running_fake_llm_server
from mbdg_assets.defs.lanes import FIRST_SLICE, LARGEST_SLICE, PIPELINE_FROM, slice_keys
from mbdg_assets.generate.readiness import AHEAD_GROUP, Readiness, SliceReadiness

ROOT = Path(__file__).resolve().parents[2]


def test_slices_cover_the_range_once_in_order_and_grow_to_the_largest():
    keys = [f"doc-{i:04d}" for i in range(1000)]
    slices = slice_keys(keys)
    assert [k for piece in slices for k in piece] == keys
    sizes = [len(piece) for piece in slices]
    assert sizes[0] == FIRST_SLICE and max(sizes) == LARGEST_SLICE
    assert all(b >= a for a, b in zip(sizes, sizes[1:-1]))  # only the last may be cut short
    assert slice_keys(keys[:5]) == [keys[:5]]


def test_a_document_waits_for_its_slice_and_a_generated_group_is_passed_on_once():
    """Generation's view of the prepare lane: a document of a slice not yet prepared waits; one
    of a slice that failed is let go with the failure; a group of a slice's documents is passed on
    for its work ahead when its last document is done, a failed slice's never; a document outside
    the slices, or without lanes, is ready at once."""
    long = [f"e{i:02d}" for i in range(AHEAD_GROUP + 1)]
    slices = [["a", "b"], ["c"], ["d"], long]
    passed, waited = [], {}
    assert Readiness().wait("a") is None  # no lanes: ready at once
    readiness = SliceReadiness(slices, passed.append)
    assert readiness.wait("elsewhere") is None
    readiness.prepared(0)
    assert readiness.wait("a") is None and readiness.wait("b") is None
    waiter = threading.Thread(target=lambda: waited.update(c=readiness.wait("c")))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # slice 1 is still being prepared
    readiness.prepared(1)
    waiter.join(5)
    assert not waiter.is_alive() and waited == {"c": None}
    readiness.prepared(2, "OSError: out of disk space")
    assert readiness.wait("d") == "OSError: out of disk space"
    readiness.generated("a")
    assert passed == []  # b is not done yet
    for path in ("b", "c", "d"):
        readiness.generated(path)
    assert passed == [["a", "b"], ["c"]]  # slice 2 failed: no work ahead for it
    readiness.prepared(3)
    for path in reversed(long):  # documents finish in any order
        readiness.generated(path)
    assert passed[2:] == [long[AHEAD_GROUP:], long[:AHEAD_GROUP]]  # in groups of AHEAD_GROUP


def test_a_stopped_run_lets_every_waiting_document_go():
    readiness = SliceReadiness([["a"], ["b"]], lambda _group: None)
    readiness.prepared(0)
    readiness.stop()
    assert readiness.wait("a") is None and readiness.wait("b") == "the run was interrupted"


def _lane_times(project: Path) -> tuple[list[float], list[float]]:
    """Times of the document run's "prepared slice" and of its model-call progress log lines (its
    only run: with the lanes the prepare work is inside the one document step)."""
    with dg.DagsterInstance.from_config(str(project / "dagster")) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="document_job"))
        assert len(runs) == 1
        logs = instance.all_logs(runs[0].run_id)
    prepared = [e.timestamp for e in logs if e.user_message.startswith("prepared slice")]
    generating = [e.timestamp for e in logs if e.user_message.endswith("tokens") and "model calls" in e.user_message]
    return prepared, generating


def _records(project: Path) -> list[tuple]:
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT record_id, decision, score, stage_scores_json, reasons, duplicate_of FROM records "
                           "ORDER BY record_id").fetchall()


def _texts_embedded_by_the_dataset_run(project: Path) -> int:
    with dg.DagsterInstance.from_config(str(project / "dagster")) as instance:
        latest = instance.fetch_materializations(dg.AssetKey("validated_records"), limit=1).records[0]
    return latest.asset_materialization.metadata["texts_embedded"].value


def _server_runs(tmp_path: Path, count: int) -> dict[str, Path]:
    """`count` generated documents against a fake server (0.3 s per answer), each way in a
    project of its own: "ui", the run a UI backfill of document_job makes (one run over the range
    with the job's default config, from the definitions `mbdg ui` loads, then the dataset job),
    (bench/ui_backfill.py), and `mbdg run --no-pipeline`; {way: project folder}."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scale import write_documents

    write_documents(tmp_path / "docs", count)
    answer = instruction_pair_responder()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    projects = {way: tmp_path / f"project-{way}" for way in ("ui", "no-pipeline")}
    with running_fake_llm_server() as server:
        server.responder = lambda body: Scripted(content=answer(body).content, delay=0.3)
        ui = subprocess.run([sys.executable, str(ROOT / "bench" / "ui_backfill.py"), str(tmp_path / "docs"), "--project",
                             str(projects["ui"]), "--out", str(tmp_path / "out-ui"), "--host", server.openai_base_url,
                             "--k", "2", "--max-targets", "1", "--concurrency", "32"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert ui.returncode == 0, ui.stdout[-2000:] + ui.stderr[-3000:]
        assert f"{count} document(s): {count} ok, 0 failed" in ui.stdout
        run = subprocess.run(
            [sys.executable, "-m", "mbdg_assets.cli.main", "run", str(tmp_path / "docs"), "--out", str(tmp_path / "out"),
             "--project", str(projects["no-pipeline"]), "--backend", "openai", "--model", "fake", "--host",
             server.openai_base_url, "--k", "2", "--max-targets", "1", "--kinds", "base", "--concurrency", "32",
             "--no-pipeline"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert f"{count} document(s): {count} ok, 0 failed" in run.stdout
    return projects


@pytest.mark.slow
def test_a_ui_backfill_generates_while_later_slices_are_prepared_and_decides_as_a_run_without_lanes(tmp_path: Path):
    """A UI backfill's run takes the lanes (the step decides, not the launcher): it generates the
    first slice before the last is prepared, and each generated slice's validation texts are
    embedded in the prepare process, so the dataset run embeds (almost) nothing; every record's
    decision and score equal a --no-pipeline run's, which validated everything in the dataset run."""
    count = PIPELINE_FROM + 8
    projects = _server_runs(tmp_path, count)
    with duckdb.connect(str(projects["ui"] / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT path) FROM candidates WHERE is_winner").fetchone()[0] == count
    prepared, generating = _lane_times(projects["ui"])
    assert len(prepared) == len(slice_keys(range(count)))
    assert generating and generating[0] < prepared[-1]  # it was generating before the last slice was prepared
    assert _lane_times(projects["no-pipeline"])[0] == []  # no lanes there

    pipelined, single = _records(projects["ui"]), _records(projects["no-pipeline"])
    assert len(pipelined) == count and {r[1] for r in pipelined} >= {"AUTO_APPROVE"}  # one target per document
    assert [r[:2] + r[4:] for r in pipelined] == [r[:2] + r[4:] for r in single]  # ids, decisions, reasons, duplicates
    for a, b in zip(pipelined, single):  # scores: batching texts differently moves a vector by ~1e-7
        stages_a, stages_b = json.loads(a[3]), json.loads(b[3])
        assert abs(a[2] - b[2]) < 1e-3 and stages_a.keys() == stages_b.keys()
        assert all(abs(stages_a[k] - stages_b[k]) < 1e-3 for k in stages_a)
    assert _texts_embedded_by_the_dataset_run(projects["no-pipeline"]) > 10 * count
    assert _texts_embedded_by_the_dataset_run(projects["ui"]) < count  # the lanes embedded the rest
