"""Phase 4: validate. Every document's winners through the five stages; checks on the result."""

import dagster as dg

from mbdg_assets.core.decisions import Thresholds
from mbdg_assets.core.prompts import load_template
from mbdg_assets.core.store import decision_counts, load_winners, replace_records
from mbdg_assets.core.table_checks import overrepresented_sources, records_table_failures
from mbdg_assets.core.validation import ValidationParams, validate_candidates
from mbdg_assets.generate import candidates
from mbdg_assets.partitions import documents_partitions
from resources import WarehouseResource


class ValidateConfig(dg.Config):
    schema_name: str = "instruction_pair"
    approve_threshold: float = 0.90
    review_threshold: float = 0.70
    grounding_gate: float = 0.60
    fair_share_multiple: float = 1.5

    def params(self) -> ValidationParams:
        return ValidationParams(Thresholds(self.approve_threshold, self.review_threshold),
                                grounding_gate=self.grounding_gate, fair_share_multiple=self.fair_share_multiple)


def _preview(records, limit: int = 10) -> str:
    lines = ["| decision | score | instruction | reasons |", "|---|---|---|---|"]
    for r in records[:limit]:
        instruction = str(r.fields.get("instruction", "")).replace("|", "\\|").replace("\n", " ")[:80]
        lines.append(f"| {r.decision} | {r.score:.2f} | {instruction} | {'; '.join(r.reasons)[:120]} |")
    return "\n".join(lines)


@dg.asset(deps=[candidates], group_name="validate", kinds={"python", "duckdb"})
def validated_records(context: dg.AssetExecutionContext, config: ValidateConfig,
                      warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Each winning candidate scored by schema, distribution, dedup, grounding and novelty, with a decision."""
    paths = context.instance.get_dynamic_partitions(documents_partitions.name)
    template = load_template(config.schema_name)
    with warehouse.connect() as con:
        records = validate_candidates(load_winners(con, paths), template.schema_name, template.json_schema, config.params())
        replace_records(con, records)
        counts = decision_counts(con)
    return dg.MaterializeResult(
        metadata={"records": len(records), **counts, "documents": len(paths), "preview": dg.MetadataValue.md(_preview(records))}
    )


@dg.asset_check(asset=validated_records, blocking=True, description="Records table conforms (pandera): ids unique, scores in [0,1], known decisions.")
def records_table_conforms(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        df = con.execute("SELECT record_id, schema_name, score, decision FROM records").df()
    failures = records_table_failures(df)
    return dg.AssetCheckResult(passed=not failures, metadata={"rows": len(df), "failures": "\n".join(failures) or "none"})


@dg.asset_check(asset=validated_records, description="No source document holds more than its allowed share of approved records.")
def sources_balanced(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT source_path, sum(records) FROM distribution_by_source_topic WHERE decision = 'AUTO_APPROVE' GROUP BY ALL"
        ).fetchall()
    total = sum(n for _, n in rows) or 1
    shares = {path: n / total for path, n in rows}
    skewed = overrepresented_sources(shares, ValidateConfig().fair_share_multiple)
    return dg.AssetCheckResult(
        passed=not skewed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"shares": dg.MetadataValue.json({p: round(s, 4) for p, s in shares.items()}),
                  "overrepresented": ", ".join(skewed) or "none"},
    )
