"""The review page over HTTP (Starlette TestClient, no browser): escaping, CSRF, access token,
Host check, decisions, conflicts between tabs, edit, undo and the export they change."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from review_fixtures import SCRIPT, build_review_warehouse
from starlette.testclient import TestClient

from mbdg_assets.cli.main import main
from mbdg_assets.storage import warehouse
from mbdg_assets.export.record_files import export_dataset
from mbdg_assets.review.app import ReviewSettings, create_app

BASE = "http://127.0.0.1:8765"
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def wh(tmp_path):
    return build_review_warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def client(wh):
    return TestClient(create_app(ReviewSettings(wh, "ann")), base_url=BASE, follow_redirects=False)


def _form(html: str, form_id: str) -> dict[str, str]:
    """The hidden inputs of one form on the page, as a browser would send them."""
    block = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', block))


def _export_sets(wh, tmp_path) -> dict[str, str]:
    with warehouse.connect(wh) as con:
        return {r["record_id"]: r["export_set"] for r in export_dataset(con, tmp_path / "out").rows}


def test_queue_and_record_escape_script_and_send_a_strict_csp(client):
    for path in ("/", "/record/rev-xss", "/document?path=b.md", "/calibration"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert SCRIPT not in response.text and "script-src 'self'" in response.headers["content-security-policy"]
    page = client.get("/record/rev-xss").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<mark>The roaster preheats to 200 degrees</mark>" in page


def test_queue_lists_most_uncertain_first_and_filters(client):
    rows = re.findall(r'data-record="([^"]+)"', client.get("/").text)
    assert rows == ["rev-near", "rev-xss", "rev-split", "rev-calm"]
    assert re.findall(r'data-record="([^"]+)"', client.get("/?topic=Roasting").text) == ["rev-near", "rev-split"]


def test_post_without_or_with_a_wrong_csrf_token_is_refused(client, wh, tmp_path):
    form = _form(client.get("/record/rev-near").text, "form-approve")
    assert client.post("/record/rev-near/decide", data={k: v for k, v in form.items() if k != "csrf"}).status_code == 403
    assert client.post("/record/rev-near/decide", data=form | {"csrf": "0" * 64}).status_code == 403
    stranger = TestClient(client.app, base_url=BASE)  # another browser: its own session, a stolen form is useless
    assert stranger.post("/record/rev-near/decide", data=form).status_code == 403
    assert _export_sets(wh, tmp_path)["rev-near"] == "review"


def test_approve_moves_on_and_the_export_includes_the_record(client, wh, tmp_path):
    response = client.post("/record/rev-near/decide", data=_form(client.get("/record/rev-near").text, "form-approve"))
    assert response.status_code == 303 and response.headers["location"].startswith("/record/rev-xss?")
    assert "Approved rev-near." in client.get(response.headers["location"]).text
    assert _export_sets(wh, tmp_path)["rev-near"] == "dataset"


def test_reject_needs_a_reason_and_second_tab_is_refused_with_a_message(client, wh, tmp_path):
    html = client.get("/record/rev-split").text
    reject, approve = _form(html, "form-reject"), _form(html, "form-approve")
    assert client.post("/record/rev-split/decide", data=reject | {"reason": " "}).status_code == 400
    assert client.post("/record/rev-split/decide", data=reject | {"reason": "answer not in source"}).status_code == 303
    late = client.post("/record/rev-split/decide", data=approve)   # the other tab, rendered before the reject
    assert late.status_code == 409 and "was not saved" in late.text and "reject by ann" in late.text
    assert _export_sets(wh, tmp_path)["rev-split"] == "rejected"


def test_edit_keeps_the_original_and_undo_restores_the_queue(client, wh, tmp_path):
    form = _form(client.get("/record/rev-calm").text, "form-edit")
    data = form | {"field.instruction": "What does rev-calm say about preheating?", "field.input": "",
                   "field.output": "It preheats to 200 degrees first.", "reason": "tightened"}
    assert client.post("/record/rev-calm/decide", data=data).status_code == 303
    with warehouse.connect(wh) as con:
        line = next(x for x in export_dataset(con, tmp_path / "out").dataset if x["record_id"] == "rev-calm")
    assert line["output"] == "It preheats to 200 degrees first." and line["original_fields"]["output"].startswith("The roaster")
    undo = _form(client.get("/").text, "form-undo")
    assert undo["record_id"] == "rev-calm"
    assert client.post("/undo", data=undo).status_code == 303
    assert _export_sets(wh, tmp_path)["rev-calm"] == "review"
    assert client.post("/undo", data=undo).status_code == 409  # nothing left to undo: refused, not silent


def test_unchanged_edit_is_refused(client):
    form = _form(client.get("/record/rev-calm").text, "form-edit")
    response = client.post("/record/rev-calm/decide", data=form | {
        "field.instruction": "What does rev-calm say about preheating?", "field.input": "",
        "field.output": "The roaster preheats to 200 degrees."})
    assert response.status_code == 400 and "nothing was changed" in response.text


def test_non_loopback_needs_the_access_token_on_every_request(wh):
    app = create_app(ReviewSettings(wh, "ann", access_token=TOKEN, loopback_only=False))
    anonymous = TestClient(app, base_url="http://review.lan:8765", follow_redirects=False)
    assert anonymous.get("/").status_code == 401
    assert anonymous.get("/?token=wrong").status_code == 401
    assert anonymous.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    entered = anonymous.get(f"/?token={TOKEN}&topic=Roasting")
    assert entered.status_code == 303 and entered.headers["location"] == "/?topic=Roasting"
    assert anonymous.get("/").status_code == 200  # the access cookie now stands for the token


def test_loopback_rejects_foreign_host_headers(client):
    assert client.get("/", headers={"host": "evil.example:8765"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200


def test_cli_refuses_a_network_address_without_token_and_prints_calibration(wh, monkeypatch):
    monkeypatch.delenv("MBDG_REVIEW_TOKEN", raising=False)
    project = str(wh.parent)
    runner = CliRunner()
    refused = runner.invoke(main, ["review", "--project", project, "--host", "0.0.0.0"])
    assert refused.exit_code == 1 and "give --token" in refused.output
    monkeypatch.setenv("MBDG_REVIEW_DRY_RUN", "1")
    ok = runner.invoke(main, ["review", "--project", project, "--host", "0.0.0.0", "--token", TOKEN, "--reviewer", "ann"])
    assert ok.exit_code == 0 and f"?token={TOKEN}" in ok.output and "reviewer ann" in ok.output
    assert "reviewed: 0" in runner.invoke(main, ["review", "--project", project, "--calibrate"]).output
    missing = runner.invoke(main, ["review", "--project", str(wh.parent / "nowhere")])
    assert missing.exit_code == 1 and "no warehouse" in missing.output


def test_calibration_page_shows_agreement_and_the_run_config_hint(client, monkeypatch):
    from mbdg_assets.review import calibration

    monkeypatch.setattr(calibration, "MIN_DECISIONS", 4)
    for record_id, action in (("rev-near", "approve"), ("rev-xss", "reject"), ("rev-split", "reject"), ("rev-calm", "approve")):
        form = _form(client.get(f"/record/{record_id}").text, "form-approve") | {"action": action, "reason": "r"}
        assert client.post(f"/record/{record_id}/decide", data=form).status_code == 303
    page = client.get("/calibration").text
    assert 'id="suggested"' in page and "approve_threshold: 0.81" in page and "review_threshold: 0.80" in page
    assert "Nothing to review" in client.get("/").text


def test_decisions_survive_a_restart_but_old_pages_need_a_reload(client, wh):
    form = _form(client.get("/record/rev-near").text, "form-approve")
    assert client.post("/record/rev-near/decide", data=form).status_code == 303
    restarted = TestClient(create_app(ReviewSettings(wh, "ann")), base_url=BASE, follow_redirects=False)
    restarted.cookies = client.cookies
    assert 'data-record="rev-near"' not in restarted.get("/").text
    stale = _form(client.get("/record/rev-calm").text, "form-approve")
    assert restarted.post("/record/rev-calm/decide", data=stale).status_code == 403  # new process secret


def test_simultaneous_requests_share_the_warehouse_without_conflicts(wh):
    from concurrent.futures import ThreadPoolExecutor

    from mbdg_assets.review.app import ReviewApp
    from mbdg_assets.review.queue import load_queue

    app = ReviewApp(ReviewSettings(wh, "ann"))
    with ThreadPoolExecutor(8) as pool:  # each opening runs schema.sql; unserialised they collide in DuckDB
        sizes = list(pool.map(lambda _: app._db(lambda con: len(load_queue(con))), range(16)))
    assert sizes == [4] * 16
