"""The closing summary of `mbdg run` reads what the dataset run stored instead of computing it again."""

from mbdg_assets.cli.run import _coverage
from mbdg_assets.defs.export import EXPORT_FACTS
from mbdg_assets.storage import warehouse
from mbdg_assets.storage.tables import record_run_facts

STORED = {"facts": 7, "facts_covered": 3, "topics": 2, "topics_covered": 1, "uncovered_topics": []}
EMPTY = {"facts": 0, "facts_covered": 0, "topics": 0, "topics_covered": 0, "uncovered_topics": []}


def test_coverage_is_the_exports_only_when_it_is_this_runs_and_of_these_documents(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert _coverage(con, [], None) == EMPTY  # no export stored yet: computed
        record_run_facts(con, EXPORT_FACTS, {"sources": [], "coverage": STORED})
        assert _coverage(con, [], None) == STORED  # this run's export, of the same (extracted) documents
        assert _coverage(con, [], "the dataset phase failed") == EMPTY  # stored facts may be an earlier run's
        record_run_facts(con, EXPORT_FACTS, {"sources": [{"path": "removed.md"}], "coverage": STORED})
        assert _coverage(con, [], None) == EMPTY  # the export covered other documents
