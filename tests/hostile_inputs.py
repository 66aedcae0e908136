"""Hostile inputs for `mbdg verify` and `mbdg review` that need a child process to measure: shared by
tests/test_hostile_cli.py and bench/bench_hostile_cli.py, so the test and the figures measure the same."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

# Builds a signed export whose dataset.jsonl is then replaced by a 1 GiB file (sparse: no disk
# cost): 1,000 records with one removed and one added, then 1 GiB of one endless line; verifies it
# under an address-space cap (argv[2] MiB, 0 = none) and prints the problems, seconds and peak RSS.
BIG_FILE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from mbdg_assets.manifest.signed_manifest import describe_files, verify_out_dir, write_signed_manifest
from mbdg_assets.manifest.signing import SigningKey
out, key, cap = Path(sys.argv[1]), SigningKey(b"k" * 32, "test"), int(sys.argv[2])
dataset = out / "dataset.jsonl"
dataset.write_text("".join(json.dumps({"record_id": f"r{i}"}) + "\\n" for i in range(1000)))
write_signed_manifest(out, {"files": describe_files(out, ["dataset.jsonl"])}, key)
kept = "".join(json.dumps({"record_id": f"r{i}"}) + "\\n" for i in range(1, 1000)) + json.dumps({"record_id": "forged"}) + "\\n"
with open(dataset, "w") as handle:
    handle.write(kept)
    handle.truncate(len(kept) + (1 << 30))
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap << 20, cap << 20))
started = time.monotonic()
try:
    problems = verify_out_dir(out, key)
except MemoryError:
    problems = ["MemoryError"]
# VmHWM, not ru_maxrss: Linux carries a larger parent's ru_maxrss across fork and exec
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"problems": problems, "seconds": time.monotonic() - started, "peak_rss_mb": peak}))
"""

# Serves the review page on a test warehouse at 127.0.0.1:argv[2].
SERVER_CHILD = """
import sys, uvicorn
from pathlib import Path
sys.path.insert(0, "tests")
from review_fixtures import build_review_warehouse
from mbdg_assets.review.app import ReviewSettings, create_app
app = create_app(ReviewSettings(build_review_warehouse(Path(sys.argv[1])), "ann"))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def verify_big_file(code: Path, folder: Path, cap_mb: int, timeout: float = 180) -> dict:
    """BIG_FILE_CHILD run with `code` (a checkout) on its path; its printed facts."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", BIG_FILE_CHILD, str(folder), str(cap_mb)], cwd=code, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def post_body(port: int, megabytes: int, chunked: bool) -> bytes:
    """Streams a form body of `megabytes` MB at the server as fast as it takes it; its answer."""
    head = (b"POST /undo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % (megabytes << 20)))
    block = (b"100000\r\n" + b"x" * (1 << 20) + b"\r\n") if chunked else b"x" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(head)
        try:
            for _ in range(megabytes):
                conn.sendall(block)
        except OSError:  # the server answered and closed: what a refusal looks like
            pass
        try:
            return conn.recv(4096)
        except OSError:
            return b""


def review_server_growth(code: Path, folder: Path, megabytes: int = 400) -> tuple[float, list[bytes]]:
    """Peak-RSS growth (MB) of a review server (run from `code`) while it is sent one declared and
    one chunked POST of `megabytes` MB, and the first bytes of its two answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER_CHILD, str(folder / "wh.duckdb"), str(port)], cwd=code,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"}, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("review server did not start") from None
                time.sleep(0.2)
        before = peak_rss_mb(server.pid)
        answers = [post_body(port, megabytes, chunked) for chunked in (False, True)]
        return peak_rss_mb(server.pid) - before, answers
    finally:
        server.terminate()
        server.wait(timeout=20)
