"""The Dagster UI as a new user meets it (issue 17), in headless Debian Chromium driven by
Playwright (the system browser through executable_path; nothing is downloaded): a project made
by `mbdg run --backend openai` against a fake OpenAI-compatible server, opened with `mbdg ui`;
one document launched from the UI's own Launchpad with the config it pre-fills runs with the
project's backend and model, and with the server down the launch fails its step with an error
that names the server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
from browser_support import BROWSER_MARKS, browser, free_port  # noqa: F401  (browser: a fixture)
from fake_llm_servers import Scripted, instruction_pair_responder, running_fake_llm_server

REPO = Path(__file__).resolve().parents[2]
GOOD, FAILED_BY_CLI = "roastery-handbook.md", "incident-policy.md"
MODEL = "fake-model"

pytestmark = BROWSER_MARKS
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")



def _cli(*args: str) -> list[str]:
    """The worktree's `mbdg` (not whichever is installed on PATH)."""
    return [sys.executable, "-m", "mbdg_assets.cli.main", *args]


def _wait_for_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {seconds:.0f}s")


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """One project (two documents: the server answers one and refuses the other with HTTP 500)
    made by the CLI, and `mbdg ui` on it; yields (ui url, project folder, fake server, stop server)."""
    work = tmp_path_factory.mktemp("ui")
    for name in (GOOD, FAILED_BY_CLI):
        (work / "docs").mkdir(exist_ok=True)
        shutil.copy(REPO / "examples" / "docs" / name, work / "docs" / name)
    project, port = work / ".mbdg", free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    env.pop("MBDG_SIGNING_KEY", None)
    answer = instruction_pair_responder()
    with ExitStack() as stack:
        server = stack.enter_context(running_fake_llm_server())
        server.responder = lambda body: Scripted(status=500) if "Incident" in str(body) else answer(body)
        made = subprocess.run(_cli("run", str(work / "docs"), "--out", str(work / "out"), "--backend", "openai",
                                   "--model", MODEL, "--host", server.openai_base_url, "--k", "2", "--max-targets", "1",
                                   "--project", str(project)), cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
        assert f"{FAILED_BY_CLI}: ERROR" in made.stdout and f"{GOOD}: ok" in made.stdout, made.stdout + made.stderr
        assert (project / "dagster" / ".nux" / "nux.yaml").exists()  # no newsletter dialog to take keystrokes
        process = subprocess.Popen(_cli("ui", "--port", str(port), "--project", str(project)), cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_for_http(f"http://127.0.0.1:{port}/server_info", 180)
            yield f"http://127.0.0.1:{port}", project, server, stack.close
        finally:
            process.terminate()
            process.wait(timeout=60)


def _launch_from_launchpad(browser, url: str, partition: str) -> str:
    """Open document_job's Launchpad, pick the partition, launch with the pre-filled config; the run id."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    skip = page.get_by_role("button", name="Skip")  # the newsletter dialog, should it show after all
    page.add_locator_handler(skip, lambda: skip.click())
    try:
        page.goto(f"{url}/locations/definitions.py/jobs/document_job/playground")
        picker = page.get_by_placeholder("Partition")
        picker.click()
        picker.fill(partition)
        page.keyboard.press("Enter")
        page.get_by_text(f"partition: {partition}").wait_for()
        editor = page.locator(".CodeMirror")
        editor.get_by_text("'openai'").wait_for()  # the pre-filled config is the project's
        assert "max_targets_per_document: 1" in editor.inner_text()  # `mbdg run --max-targets 1`, not the default 8
        page.get_by_role("button", name="Launch Run").click()
        page.wait_for_url("**/runs/*")
        return page.url.rstrip("/").split("/runs/")[1].split("?")[0]
    finally:
        page.close()


def _finished_run(project: Path, run_id: str, seconds: float = 150) -> dg.DagsterRun:
    with dg.DagsterInstance.from_config(str(project / "dagster")) as instance:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                return run
            time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish in {seconds:.0f}s")


def test_with_the_server_down_the_launch_fails_its_step_naming_the_server(ui, browser):
    url, project, server, stop = ui
    address = server.openai_base_url
    stop()  # the fake server goes away
    run_id = _launch_from_launchpad(browser, url, FAILED_BY_CLI)  # not cached: its calls must reach the server
    run = _finished_run(project, run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    with dg.DagsterInstance.from_config(str(project / "dagster")) as instance:
        failures = [e.dagster_event for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
    assert [f.step_key for f in failures] == ["document_phases"]  # the one step of extract, enrich, generate
    data = failures[0].step_failure_data
    message = data.user_failure_data.description if data.user_failure_data else data.error.message
    assert f"cannot connect to {address}" in message and "model calls failed" in message


def test_a_launchpad_launch_uses_the_projects_backend_and_model(ui, browser):
    """Runs after the dead-server test (file order), so that no dataset refresh, which follows a
    successful document run, queues ahead of that test's run; its answers all come from the cache."""
    url, project, server, _stop = ui
    calls_before = len(server.requests)
    run_id = _launch_from_launchpad(browser, url, GOOD)
    run = _finished_run(project, run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/partition"] == GOOD
    with dg.DagsterInstance.from_config(str(project / "dagster")) as instance:
        [record] = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("candidates"), asset_partitions=[GOOD]), limit=1).records
    assert record.run_id == run_id
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert (metadata["backend"], metadata["model"]) == ("openai", MODEL)
    # the project's model answered the same prompts for `mbdg run`: all replayed from the cache, none made anew
    assert metadata["llm_cache_hits"] > 0 and metadata["llm_calls"] == 0 and len(server.requests) == calls_before
