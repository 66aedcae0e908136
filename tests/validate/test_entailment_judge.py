"""The grounding stage's LLM entailment judge, wired through the real Ollama / OpenAI clients to the
wire-protocol fake: a reworded true claim judged supported is accepted, a contradicted one is
rejected, broken JSON, HTTP 500 and a dead server abstain (recorded in the reasons), never crash."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

try:  # tests/ may or may not become a package; support both import styles
    from tests.fake_llm_servers import FakeLLMServer, Scripted, closed_port_url, fake_llm_server  # noqa: F401
except ImportError:
    from fake_llm_servers import FakeLLMServer, Scripted, closed_port_url, fake_llm_server  # noqa: F401

from mbdg_assets.storage import warehouse
from mbdg_assets.validate.decisions import AUTO_REJECT
from mbdg_assets.validate.entailment import EntailmentJudge, judge_enabled, parse_verdict
from mbdg_assets.llm.backends import OllamaLLM, OpenAICompatibleLLM
from mbdg_assets.llm.cache import CachedLLM
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.validate.validator import validate_candidates

SCHEMA = load_template("instruction_pair").json_schema
SOURCE = ("Priya Raman owns vendor onboarding for the Northwind office. Every new supplier is reviewed by "
          "the procurement board, which meets on the first Tuesday of each month in Rotterdam. A vendor that "
          "fails the review may apply again after 90 days.")
CHUNK = {"chunk_id": "c1", "doc_id": "d1", "path": "vendors.md", "topic": "Vendors", "text": SOURCE,
         "heading_path": ["Vendor onboarding"]}
QUESTION = "When may a vendor that failed the review apply again?"
REWORDED_TRUE = "A rejected vendor can submit a new application after 90 days."   # 57% of its words in the source
# 86% of its words, no number, name or antonym changed ('passes' for 'fails' is caught without a judge)
QUIET_CONTRADICTION = "A vendor that fails the review may apply again within 90 days."


def _verdict(verdict: str) -> Scripted:
    return Scripted(content=json.dumps({"verdict": verdict}))


def _validate(answer: str, judge=None):
    candidate = {"candidate_id": "1", "reward": 0.9, "generation": {}, "chunk": CHUNK,
                 "fields": {"instruction": QUESTION, "input": "", "output": answer}}
    [record] = validate_candidates([candidate], "instruction_pair", SCHEMA, judge=judge)
    return record


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def _ollama_judge(server: FakeLLMServer, con) -> EntailmentJudge:
    return EntailmentJudge(CachedLLM(OllamaLLM(model="llama3.2:3b", host=server.url, timeout=5), con))


def _openai_judge(server: FakeLLMServer, con) -> EntailmentJudge:
    return EntailmentJudge(CachedLLM(OpenAICompatibleLLM(model="m", base_url=server.openai_base_url, timeout=5), con))


JUDGES = {"ollama": _ollama_judge, "openai": _openai_judge}


def test_without_a_judge_the_lexical_evidence_gets_both_cases_wrong():
    assert _validate(REWORDED_TRUE).decision == AUTO_REJECT
    assert _validate(QUIET_CONTRADICTION).decision != AUTO_REJECT


def test_an_antonym_in_the_slot_is_caught_without_a_judge():
    record = _validate("A vendor that passes the review may apply again after 90 days.")
    assert record.decision == AUTO_REJECT
    assert any("opposite of the source (passes)" in r for r in record.reasons), record.reasons


@pytest.mark.parametrize("backend", sorted(JUDGES))
def test_reworded_true_claim_judged_supported_is_accepted(fake_llm_server, con, backend):
    fake_llm_server.script(_verdict("supported"))
    judge = JUDGES[backend](fake_llm_server, con)
    record = _validate(REWORDED_TRUE, judge)
    assert record.decision != AUTO_REJECT, record.reasons
    assert record.stage_scores["grounding"] == 1.0
    assert judge.stats()["entailment_supported"] == 1
    [request] = fake_llm_server.requests
    prompt = request.body["messages"][-1]["content"]
    assert REWORDED_TRUE in prompt and "90 days" in prompt  # the claim and its supporting window
    assert request.body.get("temperature", (request.body.get("options") or {}).get("temperature")) == 0.0
    assert "verdict" in json.dumps(request.body.get("format") or request.body.get("response_format"))  # constrained


@pytest.mark.parametrize("backend", sorted(JUDGES))
def test_contradicted_claim_is_rejected_with_the_judges_reason(fake_llm_server, con, backend):
    fake_llm_server.script(_verdict("contradicted"))
    record = _validate(QUIET_CONTRADICTION, JUDGES[backend](fake_llm_server, con))
    assert record.decision == AUTO_REJECT
    assert any("entailment judge: contradicted" in r for r in record.reasons), record.reasons


@pytest.mark.parametrize("reply, why", [(Scripted(content='{"verdict": "supp'), "malformed judge answer"),
                                        (Scripted(content='{"verdict": "probably"}'), "unknown verdict"),
                                        (Scripted(status=500), "judge call failed")])
@pytest.mark.parametrize("backend", sorted(JUDGES))
def test_broken_answer_or_server_error_abstains_and_is_recorded(fake_llm_server, con, backend, reply, why):
    fake_llm_server.script(reply)
    record = _validate(QUIET_CONTRADICTION, JUDGES[backend](fake_llm_server, con))
    assert record.decision == _validate(QUIET_CONTRADICTION).decision  # scored as without a judge
    [note] = [r for r in record.reasons if "entailment judge abstained" in r]
    assert why in note


def test_dead_server_abstains_then_the_judge_stops_calling(con):
    judge = EntailmentJudge(CachedLLM(OllamaLLM(host=closed_port_url(), timeout=2), con), max_failures_in_a_row=2)
    records = [_validate(REWORDED_TRUE, judge) for _ in range(3)]
    assert all(r.decision == AUTO_REJECT for r in records)  # as without a judge: lexical evidence alone
    assert all(any("entailment judge abstained" in x for x in r.reasons) for r in records)
    assert judge.stopped and "2 failed calls in a row" in judge.stopped
    assert judge.llm.misses == 2  # the third claim was not sent to a server that is down
    assert any("judge stopped after 2 failed calls" in x for x in records[2].reasons)


def test_verdicts_are_cached_so_a_rerun_asks_the_model_nothing(fake_llm_server, con):
    fake_llm_server.script(_verdict("supported"))
    first = _validate(REWORDED_TRUE, _ollama_judge(fake_llm_server, con))
    again_judge = _ollama_judge(fake_llm_server, con)
    again = _validate(REWORDED_TRUE, again_judge)
    assert len(fake_llm_server.requests) == 1 and again_judge.llm.hits == 1
    assert again.decision == first.decision and again.stage_scores == first.stage_scores


def test_near_verbatim_and_unrelated_claims_are_not_sent_to_the_judge(fake_llm_server, con):
    judge = _ollama_judge(fake_llm_server, con)
    _validate("A vendor that fails the review may apply again after 90 days.", judge)  # verbatim
    _validate("The roastery cools every batch in a steel tray for four minutes.", judge)  # nothing in common
    assert fake_llm_server.requests == []


@pytest.mark.parametrize("text, verdict", [
    ('{"verdict": "supported"}', "supported"),
    ('Sure! ```json\n{"verdict": "Contradicted"}\n```', "contradicted"),
    ('{"verdict": "not in passage"}', "not_in_passage"),
    ('{"verdict": "Not-In-Passage"}', "not_in_passage"),
])
def test_parse_verdict_is_tolerant(text, verdict):
    assert parse_verdict(text) == (verdict, None)


@pytest.mark.parametrize("text", ["", "supported", '{"answer": "yes"}', '{"verdict": 1}', '["supported"]'])
def test_parse_verdict_refuses_what_is_not_a_verdict(text):
    verdict, why = parse_verdict(text)
    assert verdict is None and why


def test_auto_asks_the_judge_only_of_server_models():
    assert [judge_enabled("auto", b) for b in ("embedded", "ollama", "openai")] == [False, True, True]
    assert judge_enabled("on", "embedded") and not judge_enabled("off", "ollama")
    with pytest.raises(ValueError, match="auto, on, off"):
        judge_enabled("yes", "ollama")


@pytest.mark.slow  # ~20 s: Dagster, LanceDB and the embedding model
def test_validated_records_asset_uses_the_llm_resource_for_the_judge(fake_llm_server, tmp_path):
    from mbdg_assets.generate.candidates import Candidate
    from mbdg_assets.storage.tables import replace_candidates
    from mbdg_assets.defs.partitions import documents_partitions
    from mbdg_assets.defs.validate import validated_records
    from resources import LLMResource, VectorStoreResource, WarehouseResource

    wh = tmp_path / "warehouse.duckdb"
    with warehouse.connect(wh) as con:
        con.execute("INSERT INTO chunks (chunk_id, doc_id, path, format, position, text, heading_path, pages, start_char, "
                    "end_char, content_hash, topic) VALUES ('c1', 'd1', 'vendors.md', 'markdown', 0, ?, ['Vendors'], [1], 0, ?, "
                    "'h', 'Vendors')", [SOURCE, len(SOURCE)])
        replace_candidates(con, "vendors.md", "d1", "instruction_pair", [
            Candidate("cand0", "t0", "c1", 0, "", {"instruction": QUESTION, "input": "", "output": REWORDED_TRUE}, None,
                      reward=0.9, generation={"backend": "ollama"}, is_winner=True)])
    fake_llm_server.responder = lambda body: _verdict("supported")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(documents_partitions.name, ["vendors.md"])
    resources = {"warehouse": WarehouseResource(path=str(wh)), "vectors": VectorStoreResource(uri=str(tmp_path / "lancedb")),
                 "llm": LLMResource(backend="ollama", model="llama3.2:3b", host=fake_llm_server.url)}
    result = dg.materialize([validated_records], instance=instance, resources=resources)  # entailment_judge: auto
    assert result.success
    metadata = result.asset_materializations_for_node("validated_records")[0].metadata
    assert metadata["entailment_judge"].value == "ollama llama3.2:3b"
    assert metadata["entailment_supported"].value >= 1
    with warehouse.connect(wh) as con:
        assert con.execute("SELECT decision FROM records").fetchone()[0] != AUTO_REJECT
    off = dg.materialize([validated_records], instance=instance, resources=resources,
                         run_config={"ops": {"validated_records": {"config": {"entailment_judge": "off"}}}})
    assert off.asset_materializations_for_node("validated_records")[0].metadata["entailment_judge"].value == "off"
    with warehouse.connect(wh) as con:
        assert con.execute("SELECT decision FROM records").fetchone()[0] == AUTO_REJECT


def test_mbdg_validate_judge_flag_with_a_server_backend(fake_llm_server, tmp_path):
    from mbdg_assets.cli.main import main

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "vendors.md").write_text("# Vendor onboarding\n\n" + SOURCE + "\n", encoding="utf-8")
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps({"id": i, "instruction": QUESTION, "input": "", "output": a})
                                 for i, a in enumerate([REWORDED_TRUE, QUIET_CONTRADICTION])) + "\n", encoding="utf-8")
    fake_llm_server.responder = lambda body: _verdict(
        "supported" if REWORDED_TRUE in body["messages"][-1]["content"] else "contradicted")
    report = tmp_path / "report.jsonl"
    args = ["validate", str(records), "--sources", str(tmp_path / "docs"), "--out", str(report), "--no-embed",
            "--judge", "--backend", "ollama", "--host", fake_llm_server.url, "--project", str(tmp_path / "project")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in report.read_text().splitlines()]
    assert [x["decision"] != AUTO_REJECT for x in lines] == [True, False]
    assert any("entailment judge: contradicted" in r for r in lines[1]["reasons"])
    assert "entailment judge: ollama" in result.output
    assert Path(tmp_path / "project" / "warehouse.duckdb").exists()  # the verdicts are cached there
