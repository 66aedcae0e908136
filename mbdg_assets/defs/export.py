"""Phase 5: export. The training files, their data card, and the HMAC-signed run manifest that
vouches for them."""

from datetime import datetime, timezone
from importlib import metadata as package_metadata

import dagster as dg
from pydantic import Field

from mbdg_assets.export.data_card import DATA_CARD_NAME, render_data_card
from mbdg_assets.export.record_files import ExportOptions, export_dataset
from mbdg_assets.shared.quotas import Quota
from mbdg_assets.export.training_formats import DEFAULT_MIN_GAP
from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME, atomic_write_text, signing_key_id, write_signed_manifest
from mbdg_assets.manifest.signing import KeyChangeError
from mbdg_assets.storage.project import config_for_manifest, load_settings, save_settings
from mbdg_assets.export.run_facts import collect_facts, manifest_body, sources
from mbdg_assets.defs.lineage import collect_lineage
from mbdg_assets.shared.markdown import markdown_table
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.validate import VALIDATE_FACTS, ValidateConfig, validated_records
from mbdg_assets.storage.tables import load_run_facts, record_run_facts
from resources import ProjectResource, SignerResource, WarehouseResource

EXPORT_FACTS = "export"


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


def validation_settings(con) -> dict:
    """The thresholds the records were judged by, as validated_records recorded them."""
    config = load_run_facts(con, VALIDATE_FACTS) or {}
    known = {k: v for k, v in config.items() if k in ValidateConfig.model_fields}  # a renamed field must not break export
    return ValidateConfig(**known).model_dump()


def _preview(records: list[dict], limit: int = 10) -> str:
    rows = [[r.get("split", ""), f"{r.get('score', 0):.2f}", str(r.get("instruction", ""))[:80], str(r.get("output", ""))[:80]]
            for r in records[:limit]]
    return "\n".join(markdown_table(["split", "score", "instruction", "output"], rows))


@dg.asset(deps=[validated_records], group_name="export", kinds={"python", "duckdb", "parquet"})
def training_dataset(context: dg.AssetExecutionContext, config: ExportConfig, project: ProjectResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Training set split by chunk in every format (records, Alpaca, chat, DPO; JSONL and Parquet), decision files, data card."""
    out = project.out_path()
    partitions = context.instance.get_dynamic_partitions(documents_partitions.name)
    with warehouse.connect() as con:
        result = export_dataset(con, out, config.options())
        facts = collect_facts(con, result, sources(con, partitions), validation_settings(con),
                              config.model_dump(), _now(), package_metadata.version("mbdg"))
        atomic_write_text(out / DATA_CARD_NAME, render_data_card(facts))
        facts["files"].append(DATA_CARD_NAME)
        record_run_facts(con, EXPORT_FACTS, facts)  # run_manifest signs exactly this export
    return dg.MaterializeResult(metadata={
        "out_dir": dg.MetadataValue.path(str(out)), **result.counts,
        "train": result.split_sizes["train"], "eval": result.split_sizes["eval"], "preference_pairs": result.pairs,
        "data_card": dg.MetadataValue.path(str(out / DATA_CARD_NAME)),
        "files": dg.MetadataValue.md("\n".join(f"- [{name}]({(out / name).as_uri()})" for name in facts["files"])),
        "preview": dg.MetadataValue.md(_preview(result.dataset)),
    })


@dg.asset(deps=[training_dataset], group_name="export", kinds={"python"})
def run_manifest(context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource,
                 signer: SignerResource) -> dg.MaterializeResult:
    """HMAC-SHA256-signed manifest: sources, parameters, per-record rationale, lineage, machine, SHA-256 of every file."""
    out = project.out_path()
    last_key_id = load_settings(project.paths).get("signing_key_id") or signing_key_id(out)
    try:
        key = signer.key(last_key_id)
    except KeyChangeError as error:
        raise dg.Failure(description=str(error)) from None
    with warehouse.connect() as con:
        facts = load_run_facts(con, EXPORT_FACTS)
        # the documents behind the dataset: a range run also marks the partitions of documents that
        # failed extraction as materialized (their error is recorded), so they are left out here
        extracted = {path for (path,) in con.execute("SELECT path FROM documents").fetchall()}
    partitions = [p for p in context.instance.get_dynamic_partitions(documents_partitions.name) if p in extracted]
    if facts is None:
        raise dg.Failure("training_dataset has no export facts yet: materialize it before run_manifest")
    body = manifest_body(facts, out, collect_lineage(context, partitions), _now())
    body["project"] = config_for_manifest(project.paths)  # the configuration and every recorded change of it
    if last_key_id and last_key_id != key.key_id:
        body["signing_key_change"] = {"from": last_key_id, "to": key.key_id, "allowed_by": "allow_key_change"}
        context.log.warning(f"signing with key {key.key_id} instead of the project's previous key {last_key_id} (allowed)")
    manifest = write_signed_manifest(out, body, key)
    save_settings(project.paths, signing_key_id=key.key_id)
    return dg.MaterializeResult(metadata={
        "manifest": dg.MetadataValue.path(str(out / MANIFEST_NAME)), "key_id": key.key_id,
        "signature": manifest["signature"]["value"], "algorithm": manifest["signature"]["algorithm"],
        "records": len(manifest["records"]), "files": len(manifest["files"]),
    })
