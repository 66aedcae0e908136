"""Dagster's SQLite event log, with a batch of asset events written in one transaction per file.

Why: a range run over N document partitions logs one "materialization planned" and one
"materialization" event per asset and partition. Dagster's SQLite storage writes each event on a
fresh connection to the run's file and another to the asset index, and the last connection to
close checkpoints the write-ahead log, so each event costs several milliseconds of fsync: py-spy put
89% of a bare 300-partition range run's time there (issue 12). Dagster already groups
exactly these events into batches when `DAGSTER_EVENT_BATCH_SIZE` is set, but its SQLite storage
then writes a batch one event at a time. This storage sets the variable (unless it is set already) in
every process that loads it: `mbdg run`, its lanes, `mbdg ui`, a plain `dagster dev` or run worker on
the project's instance alike, so a UI backfill writes events the way `mbdg run` does. Here a batch
costs two transactions: the index (asset rows, tags) first, then the run's file.

Same tables and rows as Dagster's own storage, so the UI, sensors and `dagster` commands read it
unchanged. A batch with any other kind of event (checks, run status) goes the one-by-one way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.event_api import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

EVENT_BATCH_SIZE = "1000"  # events per batch: a range run's planned or materialized events of one asset


def _batchable(events: Sequence[EventLogEntry]) -> bool:
    """Asset events of one run that name an asset: the ones a range run logs per partition."""
    return (len({event.run_id for event in events}) == 1
            and all(event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS
                    and event.get_dagster_event().asset_key for event in events))


def _last_of_each_kind(events: Sequence[EventLogEntry], event_ids: list[int]) -> list[tuple[EventLogEntry, int]]:
    """The events that decide the asset rows, in order: per asset key and event type only the last.
    Each event of a type overwrites the same columns of its asset's row (the last materialization,
    the last run, the timestamp), so the rows end as if every event had been applied; a range run's
    1,000 materializations of one asset cost one update instead of 1,000 (each serialising the
    whole event again)."""
    last = {(event.get_dagster_event().asset_key, event.dagster_event_type): index for index, event in enumerate(events)}
    return [(events[index], event_ids[index]) for index in sorted(last.values())]


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one transaction per file for a batch (`base_dir`: the
    folder of the run files, `history/runs` in the instance folder as Dagster's default has it)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        if not os.environ.get("DAGSTER_EVENT_BATCH_SIZE"):  # a user's own value (0: off) stays
            os.environ["DAGSTER_EVENT_BATCH_SIZE"] = EVENT_BATCH_SIZE  # Dagster reads it per event

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, str]) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Index first: if it fails nothing is written and Dagster stores the events one by one."""
        if not _batchable(events):
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.index_transaction() as conn:
            event_ids = [conn.execute(statement).inserted_primary_key[0] for statement in statements]
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in _last_of_each_kind(events, event_ids):
                self._store_asset_event(conn, event, event_id)
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
