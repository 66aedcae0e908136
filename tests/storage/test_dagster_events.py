"""The batched event log writes what Dagster's own SQLite storage writes, in far fewer transactions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mbdg_assets.cli.range_runs import run_range
from mbdg_assets.storage.dagster_events import BatchedSqliteEventLogStorage
from mbdg_assets.storage.project import ProjectPaths, dagster_environment

KEYS = [f"doc-{i:02d}" for i in range(24)]
PARTITIONS = dg.StaticPartitionsDefinition(KEYS)


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def first(context) -> None:
    context.log.info(f"{len(context.partition_keys)} partitions")


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[first])
def second(context) -> None:
    context.log.info(f"{len(context.partition_keys)} partitions")


JOB = dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("both", [first, second])]).resolve_job_def("both")


def _run_counting_connections(home: Path, monkeypatch) -> tuple[dg.DagsterInstance, int]:
    """One range run over every key; how many SQLite connections the event log opened for it."""
    opened = []
    instance = dg.DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    original = storage._connect
    monkeypatch.setattr(storage, "_connect", lambda shard: opened.append(shard) or original(shard))
    outcome = run_range(JOB, instance, KEYS, {})
    assert outcome.success
    return instance, len(opened)


def _written(instance: dg.DagsterInstance) -> dict:
    """What the UI and sensors read back: partitions, materializations and planned events per
    asset, and the asset's own row (its last materialization: the last event, not any other)."""
    written = {}
    for key in (dg.AssetKey("first"), dg.AssetKey("second")):
        materializations = instance.fetch_materializations(key, limit=1000).records
        planned = instance.get_event_records(dg.EventRecordsFilter(
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key), limit=1000)
        entry = instance.get_asset_records([key])[0].asset_entry
        last = entry.last_materialization_record
        assert last.storage_id == max(r.storage_id for r in materializations)
        written[key.to_user_string()] = (sorted(instance.get_materialized_partitions(key)),
                                         sorted(r.partition_key for r in materializations),
                                         sorted(r.partition_key for r in planned),
                                         last.partition_key, entry.last_run_id == last.run_id)
    return written


def test_a_range_run_writes_the_same_rows_in_a_fraction_of_the_connections(tmp_path: Path, monkeypatch):
    project = ProjectPaths(tmp_path / "project")
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    for name, value in dagster_environment(project).items():
        monkeypatch.setenv(name, value)
    batched, batched_connections = _run_counting_connections(project.dagster_home, monkeypatch)
    assert isinstance(batched.event_log_storage, BatchedSqliteEventLogStorage)

    plain_home = tmp_path / "plain"
    plain_home.mkdir()
    (plain_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(plain_home))
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")  # set by the batched storage when it loaded
    plain, plain_connections = _run_counting_connections(plain_home, monkeypatch)
    assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"

    assert _written(batched) == _written(plain)
    assert _written(batched)["second"][0] == KEYS
    assert _written(batched)["second"][3] in KEYS and _written(batched)["second"][4]
    # 2 assets x 24 partitions x (planned + materialization) = 96 asset events, two connections each
    # one by one; batched, a handful per run whatever the number of partitions
    print(f"connections: {plain_connections} one by one, {batched_connections} batched")
    assert plain_connections > 4 * 24 * 2
    assert batched_connections < plain_connections / 4


def test_a_batch_with_other_events_is_stored_one_by_one(tmp_path: Path, monkeypatch):
    """Only a run's per-partition asset events go the batched way; anything else keeps Dagster's path."""
    storage = BatchedSqliteEventLogStorage(str(tmp_path / "runs"))
    stored = []
    monkeypatch.setattr(storage, "store_event", stored.append)
    event = dg.EventLogEntry(error_info=None, level="INFO", user_message="hello", run_id="r1", timestamp=1.0)
    storage.store_event_batch([event, event])
    assert stored == [event, event]


def test_the_instance_opens_from_its_folder_alone_and_follows_a_moved_project(tmp_path: Path, monkeypatch):
    """Tools open a project's instance by folder, without DAGSTER_HOME; the runs folder in
    dagster.yaml is written out, so it is rewritten when the project has moved."""
    import shutil

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    project = ProjectPaths(tmp_path / "a" / "project")
    dagster_environment(project)
    with dg.DagsterInstance.from_config(str(project.dagster_home)) as instance:
        assert instance.event_log_storage._base_dir == str(project.dagster_home / "history" / "runs")
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = ProjectPaths(tmp_path / "b" / "project")
    dagster_environment(moved)
    with dg.DagsterInstance.from_config(str(moved.dagster_home)) as instance:
        assert instance.event_log_storage._base_dir == str(moved.dagster_home / "history" / "runs")


@pytest.mark.parametrize("edited", [False, True])
def test_an_older_mbdg_dagster_yaml_is_rewritten_but_a_users_own_is_kept(tmp_path: Path, edited: bool):
    project = ProjectPaths(tmp_path / "project")
    config = project.dagster_home / "dagster.yaml"
    config.parent.mkdir(parents=True)
    old = "# Written by mbdg. Telemetry off\ntelemetry:\n  enabled: false\n"
    config.write_text(old.replace("# Written by mbdg", "# mine") if edited else old)
    dagster_environment(project)
    assert ("BatchedSqliteEventLogStorage" in config.read_text()) is not edited
