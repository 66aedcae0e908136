"""One project configuration (issue 17): what `mbdg run` saved is what the UI's jobs, the sensors
and the schedule run with; folders are relative so a project can move; changes are recorded;
the folder sensor starts from the materialized state in batches; the refresh coalesces bursts;
failed model calls fail the step; a different signing key is refused."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
import pytest

from definitions import build_definitions
from mbdg_assets.defs.generate import _fail_or_warn_on_failed_calls
from mbdg_assets.generate.documents import BatchOutcome
from mbdg_assets.defs.run_configs import dataset_run_config, document_run_config
from mbdg_assets.defs.sensors import MAX_DOCUMENTS_PER_TICK, docs_folder_sensor, refresh_dataset_after_documents, stretches
from mbdg_assets.llm.backends import Generation
from mbdg_assets.llm.progress import CallProgress
from mbdg_assets.manifest.signing import KEY_ENV, KeyChangeError, continuing_key, load_or_create_key
from mbdg_assets.storage.project import (ProjectPaths, config_for_manifest, load_settings, prepare_dagster_home,
                                         project_config, save_project_config)
from resources import LLMResource, ProjectResource

SAVED = {"llm": {"backend": "openai", "model": "qwen-7b", "host": "http://127.0.0.1:9/v1"},
         "generate": {"schema_name": "mcq", "k": 3, "max_targets_per_document": 2, "judge": True, "unknown_later": 1},
         "validate": {"entailment_judge": "on", "approve_threshold": 0.95}}


@pytest.fixture
def project(tmp_path: Path) -> ProjectPaths:
    paths = ProjectPaths(tmp_path / "work" / ".mbdg")
    (tmp_path / "work" / "docs").mkdir(parents=True)
    save_project_config(paths, "test", tmp_path / "work" / "docs", tmp_path / "work" / "out", **SAVED)
    return paths


def test_folders_are_stored_relative_and_follow_a_moved_project(project: ProjectPaths, tmp_path: Path):
    settings = load_settings(project)
    assert settings["docs_dir"] == "../docs" and settings["out_dir"] == "../out"
    shutil.copytree(tmp_path / "work", tmp_path / "moved")
    moved = ProjectResource(project_dir=str(tmp_path / "moved" / ".mbdg"))
    assert moved.docs_path() == (tmp_path / "moved" / "docs").resolve()
    assert moved.out_path() == (tmp_path / "moved" / "out").resolve()


def test_the_dagster_instance_shows_no_newsletter_dialog(project: ProjectPaths, monkeypatch):
    """Dagster's own check (the UI's shouldShowNux) says seen; the dialog is an iframe from dagster.io."""
    from dagster._core.nux import get_has_seen_nux
    monkeypatch.setenv("DAGSTER_HOME", str(prepare_dagster_home(project)))
    assert get_has_seen_nux()


def test_a_folder_elsewhere_stays_absolute(tmp_path: Path):
    paths = ProjectPaths(tmp_path / "a" / ".mbdg")
    save_project_config(paths, "test", Path("/srv/shared-docs"))
    assert load_settings(paths)["docs_dir"] == "/srv/shared-docs"


def test_a_change_is_recorded_with_old_and_new_values_and_reaches_the_manifest(project: ProjectPaths):
    assert load_settings(project).get("changes") is None  # the first save is no change
    changed = save_project_config(project, "mbdg run", **(SAVED | {"llm": SAVED["llm"] | {"backend": "embedded"}}))
    assert changed == {"llm.backend": ["openai", "embedded"]}
    recorded = config_for_manifest(project)
    assert recorded["changes"][-1]["by"] == "mbdg run" and recorded["changes"][-1]["changed"] == changed
    assert recorded["llm"]["backend"] == "embedded"


def test_ui_jobs_and_resources_default_to_the_project_configuration(project: ProjectPaths):
    config = project_config(project)
    defs = build_definitions(config=config)
    llm = defs.resources["llm"]
    assert (llm.backend, llm.model, llm.host) == ("openai", "qwen-7b", "http://127.0.0.1:9/v1")
    document_job = defs.resolve_job_def("document_job")
    # the config the Launchpad pre-fills for a document partition is the project's
    prefilled = document_job.partitioned_config.get_run_config_for_partition_key("a.md")
    resolved = dg.validate_run_config(document_job, prefilled)["ops"]["document_phases"]["config"]["generate"]
    assert (resolved["schema_name"], resolved["k"], resolved["max_targets_per_document"], resolved["judge"]) == ("mcq", 3, 2, True)
    # what the sensors and the schedule send validates against the jobs
    assert dg.validate_run_config(document_job, document_run_config(config))
    dataset = dataset_run_config(config)
    dataset_job = defs.resolve_job_def("dataset_job")
    assert dg.validate_run_config(dataset_job, dataset)
    empty = dg.validate_run_config(dataset_job, {})["ops"]["validated_records"]["config"]  # an empty launch
    assert (empty["entailment_judge"], empty["approve_threshold"], empty["schema_name"]) == ("on", 0.95, "mcq")
    assert dataset["ops"]["validated_records"]["config"] == {"schema_name": "mcq", "entailment_judge": "on",
                                                             "approve_threshold": 0.95}
    assert dataset["resources"]["llm"]["config"]["backend"] == "openai"


def test_an_empty_project_keeps_the_out_of_the_box_defaults(tmp_path: Path):
    config = project_config(ProjectPaths(tmp_path / "none"))
    assert LLMResource.from_project(config).backend == "embedded"
    assert document_run_config(config) == {"ops": {"document_phases": {"config": {"generate": {}}}}}


def _sensor(docs: Path, instance, cursor=None, sensor=docs_folder_sensor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"project": ProjectResource(docs_dir=str(docs))})
    return sensor(context)


def _requested(request: dg.RunRequest, order: list[str]) -> list[str]:
    """The partitions a run request covers: one key, or the range its tags name."""
    if request.partition_key:
        return [request.partition_key]
    start, end = request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
    return order[order.index(start):order.index(end) + 1]


def test_folder_sensor_skips_materialized_documents_and_batches_the_rest_as_range_runs(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("mbdg_assets.defs.sensors.MAX_DOCUMENTS_PER_TICK", 20)
    docs = tmp_path / "docs"
    docs.mkdir()
    names = [f"d{i:02}.md" for i in range(20 + 3)]
    for name in names:
        (docs / name).write_text(f"# {name}\n\ntext")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("documents", names[:2])
        for name in names[:2]:  # done by an earlier `mbdg run`, after the files were written
            instance.report_runless_asset_event(dg.AssetMaterialization("candidates", partition=name))
        first = _sensor(docs, instance)
        assert len(first.run_requests) == 1  # 20 new files: one range run, not 20 runs
        instance.add_dynamic_partitions("documents", first.dynamic_partitions_requests[0].partition_keys)  # the daemon's part
        order = instance.get_dynamic_partitions("documents")
        assert _requested(first.run_requests[0], order) == names[2:22]
        second = _sensor(docs, instance, first.cursor)
        instance.add_dynamic_partitions("documents", second.dynamic_partitions_requests[0].partition_keys)
        order = instance.get_dynamic_partitions("documents")
        assert [k for r in second.run_requests for k in _requested(r, order)] == names[22:]
        third = _sensor(docs, instance, second.cursor)
        assert not third.run_requests and f"{len(names)} file(s)" in third.skip_reason.skip_message
        time.sleep(0.01)
        for name in (names[0], names[1], names[5]):
            (docs / name).write_text("# changed\n\nnew text")  # newer than its materialization
        changed = _sensor(docs, instance, second.cursor).run_requests
        assert [_requested(r, order) for r in changed] == [names[:2], [names[5]]]
        assert changed[1].partition_key == names[5] and len({r.run_key for r in changed}) == 2


def test_stretches_group_consecutive_partitions_in_partition_order():
    order = ["a", "b", "c", "d", "e", "f"]
    assert stretches(["e", "a", "b", "d"], order) == [["a", "b"], ["d", "e"]]
    assert stretches(["f"], order) == [["f"]] and stretches([], order) == []
    assert MAX_DOCUMENTS_PER_TICK >= 100  # a big corpus is not fed to the run queue 20 documents at a time


@dg.op
def _noop() -> None:
    pass


def _job(name: str, fail: bool = False) -> dg.JobDefinition:
    @dg.op(name=f"{name}_op")
    def work() -> None:
        if fail:
            raise dg.Failure("boom")

    @dg.job(name=name)
    def job():
        work()

    return job


def test_refresh_waits_for_document_runs_and_skips_when_the_dataset_is_newer(tmp_path: Path):
    with dg.instance_for_test() as instance:
        assert "no successful document run" in _sensor(tmp_path, instance, sensor=refresh_dataset_after_documents).skip_message
        for _ in range(3):  # a burst of document runs: one refresh
            _job("document_job").execute_in_process(instance=instance)
        request = _sensor(tmp_path, instance, sensor=refresh_dataset_after_documents)
        assert isinstance(request, dg.RunRequest) and request.run_key.startswith("after-")
        _job("dataset_job").execute_in_process(instance=instance)  # e.g. `mbdg run` validated afterwards
        skip = _sensor(tmp_path, instance, sensor=refresh_dataset_after_documents)
        assert "started after the latest successful document run" in skip.skip_message


def _outcome(errors: list[str | None]) -> BatchOutcome:
    """What generate_documents reports for calls with these errors (None: answered)."""
    progress = CallProgress("run", planned=len(errors))
    for error in errors:
        progress.record(Generation("{}" if error is None else None, "", error))
    return BatchOutcome(calls=progress.done, failed_calls=progress.failed, first_error=progress.first_error)


def test_failed_model_calls_fail_the_step_or_warn_with_counts(caplog):
    metadata = {"backend": "openai", "model": "m"}
    log = dg.build_asset_context().log
    dead = _outcome(["openai: cannot connect to http://127.0.0.1:9/v1: Connection refused"] * 4)
    with pytest.raises(dg.Failure) as failure:
        _fail_or_warn_on_failed_calls(log, dead, 0.5, metadata)
    assert "4 of 4 model calls failed" in failure.value.description and "http://127.0.0.1:9/v1" in failure.value.description
    partial = _outcome([None, None, None, "openai: HTTP 500: oops"])
    _fail_or_warn_on_failed_calls(log, partial, 0.5, metadata)  # 1 of 4: a warning, not a failure
    with pytest.raises(dg.Failure):
        _fail_or_warn_on_failed_calls(log, partial, 0.2, metadata)


def test_a_range_run_names_the_document_whose_calls_failed_and_goes_on():
    metadata = {"backend": "openai", "model": "m"}
    refused = "openai: HTTP 500: scripted failure"
    outcome = BatchOutcome(calls=4, failed_calls=2, first_error=refused,
                           calls_by_document={"good.md": (2, 0, ""), "bad.md": (2, 2, refused)})
    _fail_or_warn_on_failed_calls(dg.build_asset_context().log, outcome, 0.5, metadata)  # one of two documents: go on
    assert metadata["failed_documents"].value == {"bad.md": f"2 of 2 model calls failed; first error: {refused}"}
    alone = BatchOutcome(calls=2, failed_calls=1, first_error=refused, calls_by_document={"bad.md": (2, 1, refused)})
    with pytest.raises(dg.Failure):  # every document of the step failed (1 of 2 calls is over 0.4)
        _fail_or_warn_on_failed_calls(dg.build_asset_context().log, alone, 0.4, {"backend": "openai", "model": "m"})


def test_a_different_signing_key_is_refused_naming_both_ids(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    first = load_or_create_key(tmp_path / "keys")
    assert continuing_key(tmp_path / "keys", first.key_id).key_id == first.key_id
    monkeypatch.setenv(KEY_ENV, "another secret")
    with pytest.raises(KeyChangeError) as refused:
        continuing_key(tmp_path / "keys", first.key_id)
    assert first.key_id in str(refused.value) and load_or_create_key(tmp_path).key_id in str(refused.value)
    assert continuing_key(tmp_path / "keys", first.key_id, allow_change=True).key_id != first.key_id
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(KeyChangeError, match="neither"):  # no key here: refused, and no new key file made
        continuing_key(tmp_path / "elsewhere", first.key_id)
    assert not (tmp_path / "elsewhere").exists()


def test_mbdg_run_without_model_options_keeps_the_projects_model(project: ProjectPaths, tmp_path: Path):
    from click.testing import CliRunner

    from mbdg_assets.cli.main import main

    docs = tmp_path / "work" / "docs"
    # --quota without --records stops the command right after it has chosen the model
    args = ["run", str(docs), "--out", str(tmp_path / "o"), "--project", str(project.root), "--quota", "difficulty:hard=0.3"]
    kept = CliRunner().invoke(main, args)
    assert kept.exit_code == 1 and "model: openai qwen-7b http://127.0.0.1:9/v1 (the project's" in kept.output
    chosen = CliRunner().invoke(main, args + ["--backend", "embedded"])
    assert chosen.exit_code == 1 and "the project's" not in chosen.output
