"""The Dagster lineage a run manifest carries: for each phase, the materialization (run id,
event storage id, time, data version) that produced the state the dataset was built from."""

from __future__ import annotations

import subprocess
from importlib import metadata as package_metadata
from pathlib import Path

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


def code_version() -> str:
    """mbdg's version, plus the git commit when running from a checkout (the code that ran)."""
    version = f"mbdg {package_metadata.version('mbdg')}"
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                    text=True, timeout=5, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            version += f" ({commit}{'+modified' if dirty else ''})"
        except (OSError, subprocess.SubprocessError):
            pass
    return version


def collect_lineage(context: dg.AssetExecutionContext, partitions: list[str]) -> dict:
    partitioned = {"source_documents", "enriched_chunks", "candidates"}
    return {
        "code_version": code_version(),
        "run_id": context.run_id,
        "job_name": context.job_name,
        "dagster_version": dg.__version__,
        "assets": {asset: latest_materializations(context.instance, asset, partitions if asset in partitioned else None)
                   for asset in PHASES},
    }
