"""Table-level checks on the records table, used by the Dagster asset checks.

pandera checks the table's shape (types, ranges, allowed values, unique ids); the distribution
check compares each source's share of approved records with its fair share.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from .decisions import DECISIONS

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
