"""The Dagster event log's cost per partition of a range run: Dagster's own SQLite storage against
mbdg's batched one (storage/dagster_events.py), on the same trivial assets.

    .venv/bin/python bench/bench_event_log.py [--partitions 1000]

A range run over N document partitions logs a "materialization planned" and a "materialization"
event per asset and partition; with three document assets that is 6 events per document, in the
runs of `mbdg run` and of a UI backfill alike. Prints wall and CPU seconds of one range run of two
assets over N partitions, per partition, and the ratio plain / batched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from mbdg_assets.cli.range_runs import run_range  # noqa: E402
from mbdg_assets.storage.project import ProjectPaths, dagster_environment  # noqa: E402

METADATA = {f"figure_{i}": i for i in range(20)}  # about the size of a document asset's metadata


def _job(keys: list[str]) -> dg.JobDefinition:
    partitions = dg.StaticPartitionsDefinition(keys)

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def first() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=METADATA)

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run(), deps=[first])
    def second() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata=METADATA)

    return dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("both", [first, second])]).resolve_job_def("both")


def time_range_run(home: Path, keys: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one range run over `keys` (after a small one that warms up)."""
    job = _job(keys)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_range(job, instance, keys[:8], {})
        wall, cpu = time.monotonic(), time.process_time()
        if not run_range(job, instance, keys, {}).success:
            raise RuntimeError("the range run failed")
        return time.monotonic() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=1000)
    args = parser.parse_args()
    keys = [f"doc-{i:05d}" for i in range(args.partitions)]
    with tempfile.TemporaryDirectory(prefix="bench-event-log-") as tmp:
        plain = Path(tmp) / "plain"
        plain.mkdir()
        (plain / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "0"  # Dagster's default: one event at a time
        figures = {"plain": time_range_run(plain, keys)}
        os.environ.pop("DAGSTER_EVENT_BATCH_SIZE")
        project = ProjectPaths(Path(tmp) / "project")
        os.environ.update(dagster_environment(project))
        figures["batched"] = time_range_run(project.dagster_home, keys)
    for name, (wall, cpu) in figures.items():
        print(f"{name:8s} {args.partitions} partitions x 2 assets: wall {wall:.2f} s, CPU {cpu:.2f} s, "
              f"{1000 * wall / args.partitions:.1f} ms per partition")
    print(f"plain / batched: wall {figures['plain'][0] / figures['batched'][0]:.2f}x, "
          f"CPU {figures['plain'][1] / figures['batched'][1]:.2f}x")


if __name__ == "__main__":
    main()
