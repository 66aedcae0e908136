"""Hostile-input figures for `mbdg verify` and `mbdg review` (issue 16, items 7 and 8).

Prints, for this checkout and optionally an older one (`--before DIR`, e.g. a `git archive` of an
earlier commit) side by side:
- verify of a signed export whose dataset.jsonl was replaced by a changed 1 GiB file (sparse):
  seconds and peak RSS (no memory cap here, so the old code's cost shows in full);
- peak-RSS growth of a running `mbdg review` server while it is sent a 400 MB POST with a declared
  Content-Length and another one chunked, and its status line.

    .venv/bin/python bench/bench_hostile_cli.py [--before /tmp/old-checkout] [--megabytes 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hostile_inputs import review_server_growth, verify_big_file  # noqa: E402


def measure(code: Path, megabytes: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        verify = verify_big_file(code, Path(folder) / "out", cap_mb=0, timeout=600)
        grown, answers = review_server_growth(code, Path(folder), megabytes)
    return {"verify_s": verify["seconds"], "verify_peak_mb": verify["peak_rss_mb"], "review_growth_mb": grown,
            "review_status": " / ".join(a.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)" for a in answers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older checkout to compare with")
    parser.add_argument("--megabytes", type=int, default=400, help="size of each hostile POST")
    args = parser.parse_args()
    rows = {"this checkout": measure(ROOT, args.megabytes)}
    if args.before:
        rows = {"before": measure(args.before, args.megabytes)} | rows
    print(f"{'':14} {'verify 1 GiB s':>15} {'verify peak MB':>15} {'review +MB':>11}  review answers")
    for name, r in rows.items():
        print(f"{name:14} {r['verify_s']:15.1f} {r['verify_peak_mb']:15.0f} {r['review_growth_mb']:11.0f}  {r['review_status']}")
    if args.before:
        before, after = rows["before"], rows["this checkout"]
        print(f"peak memory of verify: {before['verify_peak_mb'] / after['verify_peak_mb']:.1f}x lower; "
              f"review growth {before['review_growth_mb']:.0f} MB -> {after['review_growth_mb']:.0f} MB")


if __name__ == "__main__":
    main()
