"""The Dagster lineage a run manifest carries: for each phase, the materialization (run id,
event storage id, time, data version) that produced the state the dataset was built from."""

from __future__ import annotations

import dagster as dg

PHASES = ("source_documents", "enriched_chunks", "candidates", "validated_records", "training_dataset")
DATA_VERSION_TAG = "dagster/data_version"


def _entry(record: dg.EventLogRecord) -> dict:
    materialization = record.asset_materialization
    tags = materialization.tags if materialization else {}
    return {"run_id": record.run_id, "storage_id": record.storage_id, "timestamp": round(record.timestamp, 3),
            "data_version": (tags or {}).get(DATA_VERSION_TAG)}


def latest_materializations(instance: dg.DagsterInstance, asset: str, partitions: list[str] | None) -> dict[str, dict]:
    """Newest materialization per partition ("" for an unpartitioned asset)."""
    if partitions is None:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
        return {"": _entry(records[0])} if records else {}
    latest = {}
    for start in range(0, len(partitions), 500):
        wanted = partitions[start : start + 500]
        records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=wanted)
        for record in instance.fetch_materializations(records_filter, limit=len(wanted) * 20).records:
            latest.setdefault(record.partition_key, _entry(record))
    return latest


def collect_lineage(context: dg.AssetExecutionContext, partitions: list[str]) -> dict:
    partitioned = {"source_documents", "enriched_chunks", "candidates"}
    return {
        "run_id": context.run_id,
        "job_name": context.job_name,
        "dagster_version": dg.__version__,
        "assets": {asset: latest_materializations(context.instance, asset, partitions if asset in partitioned else None)
                   for asset in PHASES},
    }
