"""Table-level checks on the records table, used by the Dagster asset checks.

pandera checks the table's shape (types, ranges, allowed values, unique ids); the distribution
check compares each source's share of approved records with its fair share.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from mbdg_assets.validate.decisions import DECISIONS

RecordsTable = pa.DataFrameSchema(
    {
        "record_id": pa.Column(str, unique=True, checks=pa.Check.str_length(min_value=8)),
        "schema_name": pa.Column(str),
        "score": pa.Column(float, checks=pa.Check.in_range(0.0, 1.0)),
        "decision": pa.Column(str, checks=pa.Check.isin(DECISIONS)),
    },
    strict=False,
    coerce=False,
)


def records_table_failures(df: pd.DataFrame) -> list[str]:
    """Each breach as one readable line; empty when the table conforms (an empty table does:
    a run whose documents all failed has nothing to breach, and says so elsewhere)."""
    if df.empty:
        return []
    try:
        RecordsTable.validate(df, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return [f"{row.column}: {row.check} failed for {row.failure_case!r}" for row in cases.head(20).itertuples()]
    return []


def overrepresented_sources(shares: dict[str, float], fair_share_multiple: float) -> dict[str, float]:
    """Sources holding more than `fair_share_multiple` times an equal share of approved records."""
    if not shares:
        return {}
    allowed = fair_share_multiple / len(shares)
    return {source: share for source, share in shares.items() if share > allowed}


def schema_failures(df: pd.DataFrame, limit: int = 20) -> list[str]:
    """Records (rows with record_id, schema_name, fields_json) that breach their JSON Schema.
    The per-record schema stage rejects such records; this is the table-level guard that none
    reaches the kept set (it would be a validator bug, so the check blocks)."""
    import json

    import jsonschema

    from mbdg_assets.llm.prompts import load_template

    failures = []
    validators: dict[str, jsonschema.Draft202012Validator | None] = {}
    for row in df.itertuples():
        if row.schema_name not in validators:
            try:
                validators[row.schema_name] = jsonschema.Draft202012Validator(load_template(row.schema_name).json_schema)
            except (ValueError, OSError):  # a user's schema file is known by its stem only; the record stage checked it
                validators[row.schema_name] = None
        validator = validators[row.schema_name]
        error = next(iter(validator.iter_errors(json.loads(row.fields_json))), None) if validator else None
        if error is not None:
            failures.append(f"{row.record_id}: {error.message}")
            if len(failures) >= limit:
                break
    return failures
