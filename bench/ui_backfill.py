"""The run a backfill of every document partition launched from the Dagster UI makes, without a
browser: the definitions `mbdg ui` (dagster dev) loads, built from the project configuration;
document_job over the whole partition range in one run (BackfillPolicy.single_run, the range
tags a backfill sets) with the job's own default config, as the backfill daemon takes it; then
dataset_job. The settings are saved first as `mbdg run` saves them, since the UI runs what the
project configuration says. bench_scale.py's `--modes ui` times it against `mbdg run`, and
tests/cli/test_range_runs.py checks that it takes the lanes.

    python bench/ui_backfill.py DOCS --project P --out O --host URL [--host URL2] [--k 2 ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mbdg_assets.storage.project import ProjectPaths, dagster_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("docs", type=Path)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--host", action="append", required=True)
    parser.add_argument("--model", default="fake")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--max-targets", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--embed-host", default="", help="embeddings from this OpenAI-compatible server (model fake-embed)")
    args = parser.parse_args()
    paths = ProjectPaths(args.project.resolve())
    os.environ.update(dagster_environment(paths))  # what `mbdg ui` sets on dagster dev

    from mbdg_assets.cli.run import save_run_settings, sync_partitions
    from resources import LLMResource

    llm = LLMResource(backend="openai", model=args.model, host=args.host[0], hosts=args.host)
    generate = {"k": args.k, "max_targets_per_document": args.max_targets, "target_kinds": ["base"],
                "concurrency": args.concurrency}
    embed = {"embed_backend": "openai", "embed_hosts": [args.embed_host], "embedding_model": "fake-embed"} if args.embed_host else None
    save_run_settings(paths, args.docs.resolve(), args.out.resolve(), llm, generate, print, embed)

    import dagster as dg

    from definitions import build_definitions
    from mbdg_assets.cli.range_runs import run_range

    defs = build_definitions()  # from the project configuration, as `definitions.defs` is when dagster dev imports it
    with dg.DagsterInstance.get() as instance:
        keys = sync_partitions(instance, args.docs.resolve(), paths)
        started = time.monotonic()
        job = defs.resolve_job_def("document_job")
        # a range backfill's run config: the job's partitioned config for the range's first key (dagster's job_backfill.py)
        run_config = job.partitioned_config.get_run_config_for_partition_key(keys[0])
        documents = run_range(job, instance, keys, run_config)
        print(f"{len(keys)} document(s): {len(keys) - len(documents.failed_documents)} ok, "
              f"{len(documents.failed_documents)} failed ({time.monotonic() - started:.1f}s)", flush=True)
        dataset = defs.resolve_job_def("dataset_job").execute_in_process(instance=instance, raise_on_error=False)
    if not (documents.success and dataset.success):
        sys.exit(f"document run: {documents.failure or 'ok'}; dataset run: {'ok' if dataset.success else 'failed'}")


if __name__ == "__main__":
    main()
