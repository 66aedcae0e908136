"""`mbdg ui`: run `dagster dev` on this project's instance, bound to loopback by default.

`dagster dev` started from a non-interactive shell ignores SIGINT/SIGTERM (measured), so the child
gets default signal handlers back and its own process group, and we forward the stop to the
whole group: Ctrl-C or SIGTERM then shuts the webserver, daemon and code server down together.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

from mbdg_assets.storage.project import ProjectPaths, dagster_environment

STOP_GRACE_SECONDS = 20


def _restore_default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def dagster_dev_command(host: str, port: int) -> list[str]:
    """`dagster dev` on definitions.py. `-W ignore::FutureWarning` (this supervisor process only)
    drops the SupersessionWarning that points a new user at `dg dev`, which mbdg does not use;
    `--log-level warning` drops the daemon's INFO lines, e.g. "1 runs are currently in progress...
    won't launch more" every 5 s while a run is going (runs, sensors and ticks show in the UI)."""
    definitions_file = importlib.util.find_spec("definitions").origin
    return [sys.executable, "-W", "ignore::FutureWarning", "-m", "dagster", "dev", "-f", definitions_file,
            "-h", host, "-p", str(port), "--log-level", "warning"]


def serve_ui(paths: ProjectPaths, host: str, port: int) -> int:
    env = os.environ | dagster_environment(paths)
    print(f"mbdg: Dagster UI on http://{host}:{port} (project {paths.root}); Ctrl-C stops it", flush=True)
    process = subprocess.Popen(dagster_dev_command(host, port), env=env, preexec_fn=_restore_default_signals,
                               start_new_session=True)
    stopping = False

    def request_stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        _stop_group(process, signal.SIGTERM)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        code = process.wait()
    finally:
        _shut_down_group(process)
    return 0 if stopping else code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _shut_down_group(process: subprocess.Popen) -> None:
    """`dagster dev` returns before its webserver, daemon and code servers have exited: wait for
    the whole group, so that when `mbdg ui` exits nothing it started is left running."""
    if process.poll() is None:
        _stop_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(process.pid):
        _stop_group(process, signal.SIGKILL)
    if process.poll() is None:
        process.wait()
