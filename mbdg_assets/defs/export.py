"""Phase 5: export. The training files, their data card, and the HMAC-signed run manifest that
vouches for them."""

from datetime import datetime, timezone
from importlib import metadata as package_metadata

import dagster as dg
from pydantic import Field

from mbdg_assets.export.data_card import DATA_CARD_NAME, render_data_card
from mbdg_assets.export.record_files import ExportOptions, export_dataset
from mbdg_assets.generate.goal_rounds import Quota
from mbdg_assets.export.training_formats import DEFAULT_MIN_GAP
from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME, atomic_write_text, write_signed_manifest
from mbdg_assets.export.run_facts import collect_facts, manifest_body, sources
from mbdg_assets.defs.lineage import collect_lineage
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.validate import ValidateConfig, validated_records
from resources import ProjectResource, SignerResource, WarehouseResource

FACTS_KEY = "facts"


class ExportConfig(dg.Config):
    eval_fraction: float = 0.1
    split_seed: int = 0
    dpo_min_gap: float = DEFAULT_MIN_GAP
    max_records: int = 0  # the number of records asked for (mbdg run --records N); 0 exports every approved one
    quotas: list[str] = Field(default_factory=list, description="Minimum shares among max_records, e.g. difficulty:hard=0.3")

    def options(self) -> ExportOptions:
        for quota in self.quotas:
            try:
                Quota.parse(quota)
            except ValueError as error:
                raise dg.Failure(str(error)) from None
        return ExportOptions(self.eval_fraction, self.split_seed, self.dpo_min_gap, self.max_records, tuple(self.quotas))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _latest(instance: dg.DagsterInstance, asset: str) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return records[0] if records else None


def validation_settings(instance: dg.DagsterInstance) -> dict:
    """The thresholds the records were judged by: the config of the run that last validated them."""
    latest = _latest(instance, "validated_records")
    run = instance.get_run_by_id(latest.run_id) if latest else None
    config = ((run.run_config if run else {}) or {}).get("ops", {}).get("validated_records", {}).get("config", {})
    known = {k: v for k, v in config.items() if k in ValidateConfig.model_fields}  # a renamed field must not break export
    return ValidateConfig(**known).model_dump()


def _preview(records: list[dict], limit: int = 10) -> str:
    lines = ["| split | score | instruction | output |", "|---|---|---|---|"]
    for r in records[:limit]:
        cells = [str(r.get(k, "")).replace("|", "\\|").replace("\n", " ")[:80] for k in ("instruction", "output")]
        lines.append(f"| {r.get('split', '')} | {r.get('score', 0):.2f} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


@dg.asset(deps=[validated_records], group_name="export", kinds={"python", "duckdb", "parquet"})
def training_dataset(context: dg.AssetExecutionContext, config: ExportConfig, project: ProjectResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Training set split by chunk in every format (records, Alpaca, chat, DPO; JSONL and Parquet), decision files, data card."""
    out = project.out_path()
    partitions = context.instance.get_dynamic_partitions(documents_partitions.name)
    with warehouse.connect() as con:
        result = export_dataset(con, out, config.options())
        facts = collect_facts(con, result, sources(con, partitions), validation_settings(context.instance),
                              config.model_dump(), _now(), package_metadata.version("mbdg"))
    atomic_write_text(out / DATA_CARD_NAME, render_data_card(facts))
    facts["files"].append(DATA_CARD_NAME)
    return dg.MaterializeResult(metadata={
        "out_dir": dg.MetadataValue.path(str(out)), **result.counts,
        "train": result.split_sizes["train"], "eval": result.split_sizes["eval"], "preference_pairs": result.pairs,
        "data_card": dg.MetadataValue.path(str(out / DATA_CARD_NAME)),
        "files": dg.MetadataValue.md("\n".join(f"- [{name}]({(out / name).as_uri()})" for name in facts["files"])),
        "preview": dg.MetadataValue.md(_preview(result.dataset)),
        FACTS_KEY: dg.MetadataValue.json(facts),
    })


def _export_facts(instance: dg.DagsterInstance) -> dict:
    latest = _latest(instance, "training_dataset")
    entry = latest.asset_materialization.metadata.get(FACTS_KEY) if latest and latest.asset_materialization else None
    if entry is None:
        raise dg.Failure("training_dataset has no export facts yet: materialize it before run_manifest")
    return entry.value


@dg.asset(deps=[training_dataset], group_name="export", kinds={"python"})
def run_manifest(context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource,
                 signer: SignerResource) -> dg.MaterializeResult:
    """HMAC-SHA256-signed manifest: sources, parameters, per-record rationale, lineage, machine, SHA-256 of every file."""
    out, key = project.out_path(), signer.key()
    with warehouse.connect() as con:
        # the documents behind the dataset: a range run also marks the partitions of documents that
        # failed extraction as materialized (their error is recorded), so they are left out here
        extracted = {path for (path,) in con.execute("SELECT path FROM documents").fetchall()}
        partitions = [p for p in context.instance.get_dynamic_partitions(documents_partitions.name) if p in extracted]
        body = manifest_body(con, _export_facts(context.instance), out, collect_lineage(context, partitions), _now())
    manifest = write_signed_manifest(out, body, key)
    return dg.MaterializeResult(metadata={
        "manifest": dg.MetadataValue.path(str(out / MANIFEST_NAME)), "key_id": key.key_id,
        "signature": manifest["signature"]["value"], "algorithm": manifest["signature"]["algorithm"],
        "records": len(manifest["records"]), "files": len(manifest["files"]),
    })
