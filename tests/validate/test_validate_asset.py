"""validated_records and its checks materialized against a real DuckDB and LanceDB on tmp_path,
with candidates written straight into the warehouse (no model): the Dagster wiring of issue 5."""

import dagster as dg
import pytest

from mbdg_assets.storage import warehouse
from mbdg_assets.validate.accepted_records import load_prior
from mbdg_assets.validate.decisions import STAGES
from mbdg_assets.storage.tables import load_stage_counts
from mbdg_assets.generate.candidates import Candidate
from mbdg_assets.storage.tables import replace_candidates
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.validate import (distribution_within_bounds, records_table_conforms, reviews_pending, sources_balanced,
                                  validated_records)
from resources import LLMResource, VectorStoreResource, WarehouseResource

TEXT = ("The on-call engineer acknowledges a severity 1 page within 5 minutes. "
        "An incident channel is opened within 15 minutes. A written review is due within 5 working days.")
ANSWERS = [("How fast is a severity 1 page acknowledged?", "The on-call engineer acknowledges a severity 1 page within 5 minutes.", 0.9),
           ("HOW FAST IS A SEVERITY 1 PAGE ACKNOWLEDGED?", "The on-call engineer acknowledges a severity 1 page within 5 minutes!", 0.8),
           ("When is the incident channel opened?", "An incident channel is opened within 50 minutes.", 0.7),
           ("When is the written review due?", "A written review is due within 5 working days.", 0.6)]


@pytest.mark.slow
def test_validated_records_materializes_with_checks_and_remembers_accepted_records(tmp_path):
    wh, lance = tmp_path / "warehouse.duckdb", tmp_path / "lancedb"
    with warehouse.connect(wh) as con:
        con.execute("INSERT INTO chunks (chunk_id, doc_id, path, format, position, text, heading_path, pages, start_char, "
                    "end_char, content_hash, topic) VALUES ('c1', 'd1', 'policy.md', 'markdown', 0, ?, ['Policy'], [1], 0, ?, 'h', 'Policy')",
                    [TEXT, len(TEXT)])
        replace_candidates(con, "policy.md", "d1", "instruction_pair", [
            Candidate(f"cand{i}", f"t{i}", "c1", 0, "", {"instruction": q, "input": "", "output": a}, None, reward=r,
                      generation={"backend": "test"}, is_winner=True) for i, (q, a, r) in enumerate(ANSWERS)])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(documents_partitions.name, ["policy.md"])
    resources = {"warehouse": WarehouseResource(path=str(wh)), "vectors": VectorStoreResource(uri=str(lance)),
                 "llm": LLMResource()}  # embedded: the entailment judge stays off ('auto')
    result = dg.materialize([validated_records, records_table_conforms, sources_balanced, distribution_within_bounds, reviews_pending],
                            instance=instance, resources=resources, selection=[validated_records])
    assert result.success
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert checks["records_table_conforms"].passed and checks["distribution_within_bounds"].passed
    with warehouse.connect(wh) as con:
        rows = dict(con.execute("SELECT candidate_id, decision FROM records").fetchall())
        duplicate = con.execute("SELECT duplicate_of FROM records WHERE candidate_id = 'cand1'").fetchone()[0]
        stages = load_stage_counts(con)
    assert list(stages) == list(STAGES) and all(c["kept"] + c["flagged"] == 4 for c in stages.values())
    assert stages["dedup"]["flagged"] == stages["dedup"]["failed"] == 1 and sum(stages["dedup"]["kinds"].values()) == 1
    assert rows == {"cand0": "AUTO_APPROVE", "cand1": "AUTO_REJECT", "cand2": "AUTO_REJECT", "cand3": "AUTO_APPROVE"}
    assert duplicate is not None
    assert len(load_prior(lance).keys) == 2
    again = dg.materialize([validated_records], instance=instance, resources=resources)  # a rerun is no duplicate of itself
    with warehouse.connect(wh) as con:
        assert dict(con.execute("SELECT candidate_id, decision FROM records").fetchall()) == rows
    assert again.success
    embedded = [r.asset_materialization.metadata["texts_embedded"].value
                for r in instance.fetch_materializations(validated_records.key, limit=2).records]
    assert embedded[0] == 0 and embedded[1] > len(ANSWERS)  # newest first: the rerun embeds nothing again
