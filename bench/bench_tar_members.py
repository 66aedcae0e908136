"""Members of a compressed tar against the same files as a folder, through ``source_documents``.

    .venv/bin/python bench/bench_tar_members.py [--members 400,1600] [--isolate/--no-isolate]

For each N: N small Markdown files (about 1.5 KB each) as a folder, and the same files in one
``notes.tar.gz`` and in one plain ``notes.tar``. Each docs folder gets a fresh project and Dagster instance; its partitions are
synced as ``mbdg run`` syncs them and ``source_documents`` extracts the whole range (forked workers,
the way ``mbdg run`` reads; ``--no-isolate`` reads in-process). Printed: seconds to extract
(``extract s``), seconds to check again after the archive / the files were touched (a new
fingerprint: every document's sha256 is read again and nothing is parsed, ``recheck s``), and the
ratio archive / folder of both. Before extract/listed_tars.py every member parsed the tar headers
before it (and inflated the tar.gz up to it): O(n²); after, the archive is listed (inflated) once per
group of 64 documents and each member read with a seek.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")  # Dagster's preview / fork-with-threads warnings, not figures

import dagster as dg  # noqa: E402

from mbdg_assets.cli.run import sync_partitions  # noqa: E402
from mbdg_assets.defs.extract import source_documents  # noqa: E402
from mbdg_assets.storage.project import ProjectPaths  # noqa: E402
from resources import ProjectResource, WarehouseResource  # noqa: E402

SENTENCE = ("Batch {n} of the house blend was roasted at {t} degrees for {m} minutes, cooled in the tray "
            "and bagged the same afternoon; the cupping notes mention cocoa, plum and a dry finish. ")


def _note(n: int) -> bytes:
    body = "".join(SENTENCE.format(n=n, t=200 + n % 30, m=9 + n % 5) for _ in range(4))
    return f"# Roast log {n}\n\n{body}\n\n## Cupping\n\n{body}\n".encode()


def build(folder: Path, members: int) -> dict[str, Path]:
    """Docs folders holding ``members`` Markdown files: as files, as one tar.gz, as one plain tar."""
    docs = {label: folder / f"{label}{members}" for label in ("folder", "tar.gz", "tar")}
    (docs["folder"] / "notes").mkdir(parents=True)
    for n in range(members):
        (docs["folder"] / "notes" / f"log{n:05d}.md").write_bytes(_note(n))
    for suffix, mode in ((".tar.gz", "w:gz"), (".tar", "w")):
        docs[suffix[1:]].mkdir()
        with tarfile.open(docs[suffix[1:]] / f"notes{suffix}", mode) as archive:
            for n in range(members):
                data = _note(n)
                info = tarfile.TarInfo(f"log{n:05d}.md")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return docs


def extract_all(docs: Path, project_dir: Path, isolate: bool) -> tuple[float, float, int]:
    """(seconds to extract every document, seconds to check them again after a touch, documents)."""
    paths = ProjectPaths(project_dir)
    project = ProjectResource(project_dir=str(project_dir), docs_dir=str(docs), isolate_extraction=isolate)
    warehouse = WarehouseResource(path=str(paths.warehouse))
    timings = []
    with dg.instance_for_test() as instance:
        for _round in range(2):
            keys = sync_partitions(instance, docs, paths)
            context = dg.build_asset_context(partition_key_range=dg.PartitionKeyRange(keys[0], keys[-1]),
                                             instance=instance)
            started = time.perf_counter()
            result = source_documents(context, project=project, warehouse=warehouse)
            timings.append(time.perf_counter() - started)
            failed = result.metadata.get("failed")
            assert not failed or not failed.value, failed
            for file in docs.rglob("*"):  # a new fingerprint: the second round checks every sha256
                if file.is_file():
                    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 1_000_000_000))
    return timings[0], timings[1], len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", default="400,1600")
    parser.add_argument("--no-isolate", action="store_true", help="read in-process instead of forked workers")
    args = parser.parse_args()
    print(f"{'members':>8} {'as':>8} {'extract s':>10} {'recheck s':>10}")
    with tempfile.TemporaryDirectory(prefix="mbdg-bench-tars-") as tmp:
        for members in map(int, args.members.split(",")):
            rows = {}
            for label, docs in build(Path(tmp), members).items():
                rows[label] = extract_all(docs, Path(tmp) / f"project-{label}-{members}", not args.no_isolate)
                assert rows[label][2] == members
                ratio = "" if label == "folder" else (f"  ratio {label}/folder: {rows[label][0] / rows['folder'][0]:.2f}x "
                                                      f"{rows[label][1] / rows['folder'][1]:.2f}x")
                print(f"{members:>8} {label:>8} {rows[label][0]:>10.2f} {rows[label][1]:>10.2f}{ratio}", flush=True)


if __name__ == "__main__":
    main()
