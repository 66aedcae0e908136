import json
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from definitions import build_definitions, defs
from mbdg_assets.defs.sensors import docs_folder_sensor
from resources import ProjectResource

PHASES = ["source_documents", "enriched_chunks", "candidates", "validated_records", "training_dataset", "run_manifest"]


def test_definitions_load_with_the_five_phases_in_order():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(PHASES)
    for upstream, downstream in zip(PHASES, PHASES[1:]):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(downstream)).parent_keys}
        assert parents == {upstream}


def test_per_document_assets_are_partitioned_and_dataset_assets_are_not():
    graph = defs.resolve_asset_graph()
    for name in PHASES:
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        if name in PHASES[:3]:
            assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == "documents"
        else:
            assert partitions is None


def test_jobs_checks_sensors_and_schedule_are_registered():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"document_job", "dataset_job"}
    check_keys = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert check_keys == {"records_table_conforms", "sources_balanced", "reviews_pending", "distribution_within_bounds"}
    assert defs.resolve_schedule_def("nightly_dataset").default_status == dg.DefaultScheduleStatus.STOPPED
    described = [defs.resolve_sensor_def(n) for n in ("docs_folder_sensor", "refresh_dataset_after_documents")]
    described += [defs.resolve_schedule_def("nightly_dataset"), *defs.resolve_all_job_defs()]
    assert all(len(d.description or "") > 40 for d in described if not d.name.startswith("__"))


def _evaluate(docs: Path, instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"project": ProjectResource(docs_dir=str(docs))})
    return docs_folder_sensor(context)


def test_sensor_adds_changes_and_deletes_partitions(tmp_path: Path):
    docs = tmp_path / "inbox"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nalpha")
    (docs / ".hidden.md").write_text("ignored")
    with dg.instance_for_test() as instance:
        result = _evaluate(docs, instance)
        assert [r.partition_key for r in result.run_requests] == ["a.md"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["a.md"]
        instance.add_dynamic_partitions("documents", ["a.md"])
        cursor = result.cursor

        unchanged = _evaluate(docs, instance, cursor)
        assert not unchanged.run_requests and "none new or changed" in unchanged.skip_reason.skip_message

        (docs / "a.md").write_text("# A\n\nalpha, edited")
        (docs / "b.txt").write_text("beta")
        changed = _evaluate(docs, instance, cursor)
        [both] = changed.run_requests  # consecutive partitions (b.txt is added after a.md): one range run
        assert (both.tags[ASSET_PARTITION_RANGE_START_TAG], both.tags[ASSET_PARTITION_RANGE_END_TAG]) == ("a.md", "b.txt")
        assert changed.dynamic_partitions_requests[0].partition_keys == ["b.txt"]
        assert json.loads(changed.cursor).keys() == {"a.md", "b.txt"}

        (docs / "a.md").unlink()
        deleted = _evaluate(docs, instance, changed.cursor)
        assert deleted.dynamic_partitions_requests[1].partition_keys == ["a.md"]


def test_sensor_explains_a_missing_folder(tmp_path: Path):
    with dg.instance_for_test() as instance:
        result = _evaluate(tmp_path / "nope", instance)
        assert isinstance(result, dg.SkipReason) and "does not exist" in result.skip_message


def test_cli_can_bind_its_own_resources(tmp_path: Path):
    custom = build_definitions(project=ProjectResource(out_dir=str(tmp_path)))
    job = custom.resolve_job_def("dataset_job")
    assert job.name == "dataset_job" and {"project", "warehouse", "vectors", "llm", "signer"} <= set(job.resource_defs)
    assert custom.resources["project"].out_dir == str(tmp_path) != defs.resources["project"].out_dir
