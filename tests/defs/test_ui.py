"""`mbdg ui` serves the Dagster UI on loopback and stops everything it started on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with_env(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_for_http(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            time.sleep(1)
    return False


def test_ui_answers_and_stops_cleanly_on_sigterm(tmp_path: Path):
    port, project = _free_port(), tmp_path / "project"
    cli = Path(sys.executable).with_name("mbdg")
    process = subprocess.Popen([str(cli), "ui", "--port", str(port), "--project", str(project)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = f"MBDG_PROJECT_DIR={project.resolve()}"
    try:
        assert _wait_for_http(f"http://127.0.0.1:{port}/server_info", 120), "UI did not answer"
        assert (project / "dagster" / "dagster.yaml").read_text().count("enabled: false") == 1
        assert len(_processes_with_env(marker)) >= 2  # mbdg ui itself and dagster dev's processes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert _processes_with_env(marker) == []  # `mbdg ui` returns only once its process group is gone
    finally:
        if process.poll() is None:
            process.kill()
        for pid in _processes_with_env(marker):
            os.kill(pid, signal.SIGKILL)
