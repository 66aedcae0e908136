"""The whole pipeline (`mbdg run`, all five phases) over N small documents against a fake batch
model server in a process of its own, with one and with two endpoints.

The server answers every request after L seconds and serves S requests at once (the others wait,
as in vLLM's queue), so the best any client can do is ideal = calls x L / S (per endpoint: two
endpoints serve 2S at once). Printed per run: wall, calls, ideal, wall/ideal, mbdg's own CPU
seconds per document (user+sys of the `mbdg run` process: extraction, embedding, scoring,
validation and orchestration), (wall - ideal) / N, peak RSS, and the seconds of the document
phase and after it (the dataset phase: validation and export). Goal: wall/ideal <= 1.3 at 1,000
documents with L = 8 s, S = 128.

Where wall - ideal goes, from the server's record of each call's time in its slot: the seconds
before its first call (start-up, the first slice prepared), after its last answer (the dataset
phase), and in between its unused slots as seconds of the whole server (drains and fills between
generate runs, a prepare lane that fell behind). `--timeline` also prints the server's use per
`--bucket` seconds, one digit each (0: idle .. 9: 90-100% of its slots busy).

    .venv/bin/python bench/bench_scale.py                      # N = 100 and 1,000, L = 8, S = 128
    .venv/bin/python bench/bench_scale.py --docs 20 --latency 0.5 --endpoints 1
    .venv/bin/python bench/bench_scale.py --big                # also N = 10,000
    .venv/bin/python bench/bench_scale.py --modes pipeline     # without the --no-pipeline comparison
    .venv/bin/python bench/bench_scale.py --modes pipeline,ui  # mbdg run against a UI backfill's run
    .venv/bin/python bench/bench_scale.py --embed-server       # embeddings from the (first) server too

With `--embed-server` the fake server also answers `/v1/embeddings` (at once, with hashed vectors
of the local model's length): the machine then does no embedding compute, so (wall - ideal) / N is
mbdg's own cost per document as the issue counts it (everything but waiting for the model and the
embedding compute). Its vectors carry no meaning, so the run's decisions are not worth reading.

The fake server runs on this machine and its CPU seconds are printed too (`cpu_s_by_process`):
on a small machine they are taken from mbdg's cores, which a real server on its own machine
would not take.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
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


EMBED_DIMENSION = 384  # the local all-MiniLM-L6-v2's, so the tables hold vectors of the same size


def start_server(latency: float, slots: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    """The fake batch server in its own process (its threads never share mbdg's interpreter lock)."""
    port_file = workdir / f"server-{time.monotonic_ns()}.url"
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from fake_llm_servers import serve_batch_forever; "
            f"serve_batch_forever({latency}, {slots}, {str(port_file)!r}, {EMBED_DIMENSION})")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the fake batch server did not start")
        time.sleep(0.05)
    return process, port_file.read_text()


def server_stats(url: str, route: str = "stats"):
    with urllib.request.urlopen(f"{url}/{route}", timeout=60) as response:
        return json.loads(response.read())


class MemoryWatch(threading.Thread):
    """Peak RSS of each process of the run's tree (the `mbdg run` process, its prepare lane, their
    extraction workers), read from /proc twice a second (Linux), with the second of the run it was
    reached at: says which process grows and in which phase (ru_maxrss only gives the largest)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root, self.started, self.done = pid, time.monotonic(), threading.Event()
        self.peaks: dict[str, tuple[int, int]] = {}  # role -> (MB, second)
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, CPU seconds last read)

    def run(self) -> None:
        while not self.done.wait(0.5):
            for pid, role in [(self.root, "run")] + [(child, _role(child, depth)) for child, depth in _descendants(self.root)]:
                mb, cpu = _rss_mb(pid), _cpu_seconds(pid)
                if mb > self.peaks.get(role, (0, 0))[0]:
                    self.peaks[role] = (mb, round(time.monotonic() - self.started))
                if cpu:
                    self.cpu[pid] = (role, cpu)

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds per role (as last read, up to half a second before each process ended)."""
        totals: dict[str, float] = {}
        for role, seconds in self.cpu.values():
            totals[role] = round(totals.get(role, 0.0) + seconds, 1)
        return totals


def _descendants(pid: int, depth: int = 1) -> list[tuple[int, int]]:
    """(pid, depth below the run) of every process under `pid`."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process ended meanwhile (this stopped the memory watch of a 1,000-document run)
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the process or thread ended meanwhile
            continue
        for child in children:
            found += [(child, depth)] + _descendants(child, depth + 1)
    return found


def _rss_mb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) // 1024 if found else 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _role(pid: int, depth: int) -> str:
    """The prepare lane is the run's spawned child; extraction workers are forked below a lane
    or the run; anything else (multiprocessing's resource tracker) is "other"."""
    if depth > 1:
        return "worker"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    return "prepare lane" if b"spawn_main" in command else "worker" if b"resource_tracker" not in command else "other"


def timeline(served: list[tuple[float, float]], started: float, ended: float, ideal: float,
             slots: int, bucket: float) -> dict:
    """wall - ideal split into before the first call, after the last answer and unused server
    time in between; and the server's use per `bucket` seconds as a string of digits."""
    if not served:
        return {}
    first, last = min(s for s, _e in served), max(e for _s, e in served)
    before, after = first - started, ended - last
    figures = {"before_first_call_s": round(before, 1), "after_last_answer_s": round(after, 1),
               "unused_between_s": round(ended - started - ideal - before - after, 1)}
    if bucket > 0:
        busy = [0.0] * (int((ended - started) / bucket) + 1)
        for start, end in served:
            for b in range(int((start - started) / bucket), int((end - started) / bucket) + 1):
                low, high = started + b * bucket, started + (b + 1) * bucket
                busy[b] += max(0.0, min(end, high) - max(start, low))
        figures["use_per_bucket"] = "".join(str(min(9, int(10 * b / (bucket * slots)))) for b in busy)
    return figures


DOCUMENT_PHASE = re.compile(r"document\(s\): \d+ ok, \d+ failed \(([\d.]+)s\)")  # cli/run.py's line after the document phase


def _command(mode: str, docs: Path, project: Path, servers: list, args: argparse.Namespace, endpoints: int) -> list[str]:
    """`mbdg run` (mode pipeline: with the lanes where they pay; single: --no-pipeline), or (ui)
    the run a UI backfill of document_job makes and then dataset_job (bench/ui_backfill.py)."""
    hosts = [option for _process, url in servers for option in ("--host", url)]
    if mode == "ui":
        command = [sys.executable, str(ROOT / "bench" / "ui_backfill.py"), str(docs), "--project", str(project),
                   "--out", str(project / "out"), "--k", str(args.k), "--max-targets", str(args.max_targets),
                   "--concurrency", str(args.slots * endpoints), *hosts]
        return command + (["--embed-host", servers[0][1]] if args.embed_server else [])
    command = [sys.executable, "-m", "mbdg_assets.cli.main", "run", str(docs), "--out", str(project / "out"),
               "--project", str(project), "--backend", "openai", "--model", "fake", "--k", str(args.k),
               "--max-targets", str(args.max_targets), "--kinds", "base", "--concurrency", str(args.slots * endpoints),
               "--pipeline" if mode == "pipeline" else "--no-pipeline", *hosts]
    if args.embed_server:
        command += ["--embed-backend", "openai", "--embed-host", servers[0][1], "--embed-model", "fake-embed"]
    return command


def run_once(count: int, endpoints: int, args: argparse.Namespace, workdir: Path, mode: str = "pipeline") -> dict:
    docs = workdir / f"docs-{count}"
    if not docs.exists():
        write_documents(docs, count)
    servers = [start_server(args.latency, args.slots, workdir) for _ in range(endpoints)]
    project = workdir / f"project-{count}-{endpoints}-{time.monotonic_ns()}"
    command = _command(mode, docs, project, servers, args, endpoints)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    log = workdir / "run.log"
    started, started_at = time.monotonic(), time.time()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        watch = MemoryWatch(process.pid)
        watch.start()
        _pid, status, usage = os.wait4(process.pid, 0)  # this child's own CPU time and peak RSS
        watch.done.set()
    wall, ended_at = time.monotonic() - started, time.time()
    returncode = os.waitstatus_to_exitcode(status)
    try:
        stats = [server_stats(url) for _process, url in servers]
        served = [call for _process, url in servers for call in server_stats(url, "served")]
        server_cpu = sum(_cpu_seconds(process.pid) for process, _url in servers)  # it shares this machine's cores
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
    return {"docs": count, "endpoints": endpoints, "mode": mode, "embed": "server" if args.embed_server else "local",
            "ok": returncode == 0, "wall_s": round(wall, 1),
            "calls": calls, "per_endpoint": [s["calls"] for s in stats],
            "max_in_flight": [s["max_in_flight"] for s in stats], "ideal_s": round(ideal, 1),
            "wall_over_ideal": round(wall / ideal, 2) if ideal else None,
            "document_phase_s": documents_s, "after_documents_s": round(wall - documents_s, 1) if phase else None,
            "cpu_s_per_doc": round(cpu / count, 3), "overhead_s_per_doc": round((wall - ideal) / count, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "peak_mb_at_s": watch.peaks,
            "cpu_s_by_process": watch.cpu_by_role() | {"fake server": round(server_cpu, 1)}} | timeline(
                served, started_at, ended_at, ideal, args.slots * endpoints, args.bucket if args.timeline else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="100,1000", help="comma-separated document counts")
    parser.add_argument("--big", action="store_true", help="also 10,000 documents")
    parser.add_argument("--latency", type=float, default=8.0, help="seconds per request (L)")
    parser.add_argument("--slots", type=int, default=128, help="requests the server serves at once (S)")
    parser.add_argument("--endpoints", default="1,2", help="comma-separated endpoint counts")
    parser.add_argument("--modes", default="pipeline,single",
                        help="pipeline: `mbdg run` (with the document step's prepare and generate lanes); single: "
                             "`mbdg run --no-pipeline`; ui: the run a UI backfill makes, then the dataset job")
    parser.add_argument("--timeline", action="store_true", help="also the server's use per --bucket seconds")
    parser.add_argument("--bucket", type=float, default=10.0, help="seconds per digit of --timeline")
    parser.add_argument("--embed-server", action="store_true",
                        help="embeddings from the fake server (no embedding compute here) instead of the local model")
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
