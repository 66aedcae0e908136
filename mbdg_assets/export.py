"""Phase 5: export. The dataset files and the HMAC-signed run manifest that vouches for them."""

import json
from datetime import datetime, timezone
from importlib import metadata as package_metadata

import dagster as dg

from mbdg_assets.core.export import EXPORT_FILES, export_records
from mbdg_assets.core.manifest import describe_files, write_signed_manifest
from mbdg_assets.core.warehouse import fetch_dicts
from mbdg_assets.lineage import collect_lineage
from mbdg_assets.partitions import documents_partitions
from mbdg_assets.validate import validated_records
from resources import ProjectResource, SignerResource, WarehouseResource


@dg.asset(deps=[validated_records], group_name="export", kinds={"python", "duckdb"})
def training_dataset(context: dg.AssetExecutionContext, project: ProjectResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """JSONL files of the validated records: dataset.jsonl (approved), review.jsonl, rejected.jsonl."""
    out = project.out_path()
    with warehouse.connect() as con:
        counts = export_records(con, out)
    return dg.MaterializeResult(
        metadata={"out_dir": dg.MetadataValue.path(str(out)), **counts,
                  "dataset": dg.MetadataValue.path(str(out / EXPORT_FILES["AUTO_APPROVE"]))}
    )


def _manifest_body(con, context: dg.AssetExecutionContext, partitions: list[str], out) -> dict:
    sources = fetch_dicts(con, "SELECT path, doc_id AS sha256, format, pages, chars FROM documents "
                               "WHERE path IN (SELECT unnest(?::VARCHAR[])) ORDER BY path", [partitions])
    records = fetch_dicts(con, "SELECT record_id, candidate_id, decision, score, stage_scores_json, chunk_ids, "
                               "generation_json FROM records ORDER BY record_id")
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mbdg_version": package_metadata.version("mbdg"),
        "sources": sources,
        "parameters": {"generation": _generation_settings(records)},
        "records": [{"record_id": r["record_id"], "candidate_id": r["candidate_id"], "decision": r["decision"],
                     "score": r["score"], "chunk_ids": list(r["chunk_ids"]), "stage_scores": json.loads(r["stage_scores_json"])}
                    for r in records],
        "lineage": collect_lineage(context, partitions),
        "files": describe_files(out, list(EXPORT_FILES.values())),
    }


GENERATION_SETTINGS = ("backend", "model", "prompt_version", "temperature", "k")


def _generation_settings(records: list[dict]) -> list[dict]:
    """The distinct model settings behind the records (usually one)."""
    distinct = {json.dumps({k: json.loads(r["generation_json"]).get(k) for k in GENERATION_SETTINGS}, sort_keys=True)
                for r in records}
    return [json.loads(s) for s in sorted(distinct)]


@dg.asset(deps=[training_dataset], group_name="export", kinds={"python"})
def run_manifest(context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource,
                 signer: SignerResource) -> dg.MaterializeResult:
    """HMAC-SHA256-signed manifest: sources and their SHA-256, parameters, per-record decisions, lineage, file hashes."""
    partitions = context.instance.get_dynamic_partitions(documents_partitions.name)
    out = project.out_path()
    key = signer.key()
    with warehouse.connect() as con:
        manifest = write_signed_manifest(out, _manifest_body(con, context, partitions, out), key)
    return dg.MaterializeResult(
        metadata={"manifest": dg.MetadataValue.path(str(out / "manifest.json")), "key_id": key.key_id,
                  "signature": manifest["signature"]["value"], "records": len(manifest["records"])}
    )
