"""The whole pipeline (`mbdg run`, all five phases) over N small documents against a fake batch
model server in a process of its own, with one and with two endpoints.

The server answers every request after L seconds and serves S requests at once (the others wait,
as in vLLM's queue), so the best any client can do is ideal = calls x L / S (per endpoint: two
endpoints serve 2S at once). Printed per run: wall, calls, ideal, wall/ideal, mbdg's own CPU
seconds per document (user+sys of the `mbdg run` process: extraction, embedding, scoring,
validation and orchestration), (wall - ideal) / N, peak RSS, and the seconds of the document
phase and after it (the dataset phase: validation and export). Goal: wall/ideal <= 1.3 at 1,000
documents with L = 8 s, S = 128.

    .venv/bin/python bench/bench_scale.py                      # N = 100 and 1,000, L = 8, S = 128
    .venv/bin/python bench/bench_scale.py --docs 20 --latency 0.5 --endpoints 1
    .venv/bin/python bench/bench_scale.py --big                # also N = 10,000
    .venv/bin/python bench/bench_scale.py --modes pipeline     # without the single-range-run comparison
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("roast", "bean", "grinder", "kettle", "filter", "crema", "origin", "harvest", "cupping", "acidity",
         "sweetness", "storage", "supplier", "invoice", "shift", "training", "safety", "cleaning", "descaling", "milk")


def write_documents(folder: Path, count: int) -> None:
    """`count` Markdown files of four short sections each, every sentence different (no dedup)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sections = []
        for s in range(4):
            words = [WORDS[(i * 7 + s * 3 + j) % len(WORDS)] for j in range(6)]
            sentences = [f"Document {i} section {s} explains that the {words[j]} step needs {words[j + 1]} checks "
                         f"every {i % 9 + j + 2} hours at station {i}-{s}-{j}." for j in range(5)]
            sections.append(f"## Part {s} of guide {i}\n\n" + " ".join(sentences))
        (folder / f"guide-{i:05d}.md").write_text(f"# Guide {i}\n\n" + "\n\n".join(sections) + "\n")


def start_server(latency: float, slots: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    """The fake batch server in its own process (its threads never share mbdg's interpreter lock)."""
    port_file = workdir / f"server-{time.monotonic_ns()}.url"
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from fake_llm_servers import serve_batch_forever; "
            f"serve_batch_forever({latency}, {slots}, {str(port_file)!r})")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the fake batch server did not start")
        time.sleep(0.05)
    return process, port_file.read_text()


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return json.loads(response.read())


DOCUMENT_PHASE = re.compile(r"document\(s\): \d+ ok, \d+ failed \(([\d.]+)s\)")  # cli/run.py's line after the document phase


def run_once(count: int, endpoints: int, args: argparse.Namespace, workdir: Path, mode: str = "pipeline") -> dict:
    docs = workdir / f"docs-{count}"
    if not docs.exists():
        write_documents(docs, count)
    servers = [start_server(args.latency, args.slots, workdir) for _ in range(endpoints)]
    project = workdir / f"project-{count}-{endpoints}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "mbdg_assets.cli.main", "run", str(docs), "--out", str(project / "out"),
               "--project", str(project), "--backend", "openai", "--model", "fake", "--k", str(args.k),
               "--max-targets", str(args.max_targets), "--kinds", "base", "--concurrency", str(args.slots * endpoints),
               "--pipeline" if mode == "pipeline" else "--no-pipeline"]
    for _process, url in servers:
        command += ["--host", url]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    log = workdir / "run.log"
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)  # this child's own CPU time and peak RSS
    wall = time.monotonic() - started
    returncode = os.waitstatus_to_exitcode(status)
    try:
        stats = [server_stats(url) for _process, url in servers]
    finally:
        for process, _url in servers:
            process.kill()
            process.wait()
    if returncode != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
    calls = sum(s["calls"] for s in stats)
    ideal = calls * args.latency / (args.slots * endpoints)
    cpu = usage.ru_utime + usage.ru_stime
    phase = DOCUMENT_PHASE.search(log.read_text())
    documents_s = float(phase.group(1)) if phase else None
    return {"docs": count, "endpoints": endpoints, "mode": mode, "ok": returncode == 0, "wall_s": round(wall, 1),
            "calls": calls, "per_endpoint": [s["calls"] for s in stats],
            "max_in_flight": [s["max_in_flight"] for s in stats], "ideal_s": round(ideal, 1),
            "wall_over_ideal": round(wall / ideal, 2) if ideal else None,
            "document_phase_s": documents_s, "after_documents_s": round(wall - documents_s, 1) if phase else None,
            "cpu_s_per_doc": round(cpu / count, 3), "overhead_s_per_doc": round((wall - ideal) / count, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="100,1000", help="comma-separated document counts")
    parser.add_argument("--big", action="store_true", help="also 10,000 documents")
    parser.add_argument("--latency", type=float, default=8.0, help="seconds per request (L)")
    parser.add_argument("--slots", type=int, default=128, help="requests the server serves at once (S)")
    parser.add_argument("--endpoints", default="1,2", help="comma-separated endpoint counts")
    parser.add_argument("--modes", default="pipeline,single",
                        help="pipeline: mbdg run's prepare and generate lanes; single: one range run (--no-pipeline)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-targets", type=int, default=2)
    args = parser.parse_args()
    counts = [int(c) for c in args.docs.split(",")] + ([10_000] if args.big else [])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for count in counts:
            for endpoints in (int(e) for e in args.endpoints.split(",")):
                for mode in args.modes.split(","):
                    print(json.dumps(run_once(count, endpoints, args, Path(tmp), mode)), flush=True)


if __name__ == "__main__":
    main()
