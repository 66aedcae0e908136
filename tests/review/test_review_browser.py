"""The review page in headless Debian Chromium, driven by Playwright (the system browser through
executable_path; nothing is downloaded): mouse and keyboard decisions, undo, the export that
follows them, `<script>` shown as text, and a POST without the CSRF token refused."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS, browser, free_port  # noqa: F401  (browser: a fixture)
from review_fixtures import SCRIPT, build_review_warehouse

from mbdg_assets.storage import warehouse
from mbdg_assets.export.record_files import export_dataset
from mbdg_assets.review.app import ReviewSettings, create_app


pytestmark = BROWSER_MARKS
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")



@pytest.fixture
def server(tmp_path):
    """A real uvicorn server on a free loopback port, in a thread of this process."""
    import uvicorn

    wh = build_review_warehouse(tmp_path / "warehouse.duckdb")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(ReviewSettings(wh, "ann")), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", wh
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def _export_sets(wh: Path, out: Path) -> dict[str, str]:
    with warehouse.connect(wh) as con:
        return {r["record_id"]: r["export_set"] for r in export_dataset(con, out).rows}


def _on_record(page, record_id: str) -> None:
    page.wait_for_url(f"**/record/{record_id}**")


def test_mouse_approve_reject_edit_undo_and_export(server, page, tmp_path):
    base, wh = server
    page.goto(base + "/")
    page.click("tr[data-record=rev-near] td:nth-child(3)")           # anywhere on the row opens it
    _on_record(page, "rev-near")
    page.click("#btn-approve")
    _on_record(page, "rev-xss")                                        # the next most uncertain
    assert "Approved rev-near." in page.inner_text("#flash")
    assert SCRIPT in page.inner_text("pre[data-field=instruction]")    # shown as text ...
    assert page.dialogs == [] and page.locator("main script").count() == 0  # ... never run
    page.fill("#reject-reason", "answer is not in the source")
    page.click("#btn-reject")
    _on_record(page, "rev-split")
    page.click("#edit-box summary")
    page.fill("textarea[name='field.output']", "The roaster preheats to 200 degrees before the first batch.")
    page.click("#btn-edit")
    _on_record(page, "rev-calm")
    sets = _export_sets(wh, tmp_path / "out1")
    assert (sets["rev-near"], sets["rev-xss"], sets["rev-split"]) == ("dataset", "rejected", "dataset")
    page.click("#form-undo button")                                    # takes back the edit of rev-split
    _on_record(page, "rev-split")
    assert "Undid the decision on rev-split." in page.inner_text("#flash")
    assert _export_sets(wh, tmp_path / "out2")["rev-split"] == "review"


def test_keyboard_approve_reject_edit_undo_and_export(server, page, tmp_path):
    base, wh = server
    page.goto(base + "/")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.get_attribute("tr.selected", "data-record") == "rev-xss"
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    _on_record(page, "rev-near")
    shot = os.environ.get("MBDG_REVIEW_SCREENSHOT")
    if shot:  # docs/review-screenshot.png is made this way (see README)
        page.screenshot(path=shot, full_page=False)
    page.keyboard.press("j")                                           # next without deciding
    _on_record(page, "rev-xss")
    page.keyboard.press("k")
    _on_record(page, "rev-near")
    page.keyboard.press("a")
    _on_record(page, "rev-xss")
    page.keyboard.press("r")
    page.keyboard.type("unsupported claim")
    page.keyboard.press("Enter")
    _on_record(page, "rev-split")
    page.keyboard.press("e")
    page.keyboard.press("Escape")                                      # leave the field: shortcuts work again
    page.click("textarea[name='field.output']")
    page.keyboard.press("Control+a")
    page.keyboard.type("It preheats to 200 degrees.")
    page.keyboard.press("Control+Enter")
    _on_record(page, "rev-calm")
    sets = _export_sets(wh, tmp_path / "out1")
    assert (sets["rev-near"], sets["rev-xss"], sets["rev-split"], sets["rev-calm"]) == ("dataset", "rejected", "dataset", "review")
    with warehouse.connect(wh) as con:
        line = next(x for x in export_dataset(con, tmp_path / "out2").dataset if x["record_id"] == "rev-split")
    assert line["output"] == "It preheats to 200 degrees." and "original_fields" in line
    page.keyboard.press("u")
    _on_record(page, "rev-split")
    assert _export_sets(wh, tmp_path / "out3")["rev-split"] == "review"


def test_post_without_csrf_token_is_refused_and_second_tab_gets_a_message(server, browser, page, tmp_path):
    base, wh = server
    page.goto(base + "/record/rev-near")
    page.evaluate("document.querySelector('#form-approve input[name=csrf]').remove()")  # a forged form
    with page.expect_navigation() as navigation:
        page.click("#btn-approve")
    assert navigation.value.status == 403 and "CSRF" in page.inner_text("#problem")
    assert _export_sets(wh, tmp_path / "out0")["rev-near"] == "review"
    page.goto(base + "/record/rev-near")
    other = page.context.new_page()                                    # a second tab on the same record
    other.goto(base + "/record/rev-near")
    other.click("#btn-approve")
    _on_record(other, "rev-xss")
    page.fill("#reject-reason", "late")
    page.click("#btn-reject")                                          # rendered before the approve
    assert "was not saved" in page.inner_text("#problem")
    assert _export_sets(wh, tmp_path / "out")["rev-near"] == "dataset"
