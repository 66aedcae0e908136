"""What `mbdg ui` and every UI-launched run pay before any work: importing `definitions` (the code
server and each run worker do it), now that lancedb is imported only when a store is opened, against
the same import with lancedb loaded up front as before (issue 17: first page ~28 s). Alternating
rounds in fresh processes; the median of each and their ratio.

    .venv/bin/python bench/bench_ui_start.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {"now (lancedb lazy)": "import definitions", "before (lancedb at import)": "import lancedb, definitions"}


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, code in CASES.items():
            times[name].append(_seconds(code))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"import definitions, {name}: {value:.2f} s (median of {rounds})")
    print(f"ratio now/before: {medians['now (lancedb lazy)'] / medians['before (lancedb at import)']:.2f}")


if __name__ == "__main__":
    main()
