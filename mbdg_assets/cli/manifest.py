"""`mbdg verify OUT_DIR`, `mbdg manifest show OUT_DIR` and `mbdg lineage RECORD_ID`: checking and
reading what an export claims, and where one record came from. Registered on the main group at
the end of `cli/main.py`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env

PROJECT_OPTION = click.option("--project", "project_dir", default=None, help="State folder (default: $MBDG_PROJECT_DIR or ./.mbdg).")


def _fail(message: str) -> None:
    click.echo(f"mbdg: {message}", err=True)
    sys.exit(1)


@click.command("verify")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--max-manifest-mb", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="Refuse a manifest.json larger than this (it is read whole to check its signature).")
@PROJECT_OPTION
def verify(out_dir: Path, max_manifest_mb: int, project_dir: str | None) -> None:
    """Check OUT_DIR's manifest signature, then the hash of every file it lists (signature first:
    nothing listed is opened unless the key signed it, and never anything outside OUT_DIR)."""
    from mbdg_assets.manifest.signed_manifest import verify_out_dir
    from mbdg_assets.manifest.signing import KeyFileError, load_or_create_key

    key_dir = ProjectPaths(project_dir_from_env(project_dir)).keys
    if not os.environ.get("MBDG_SIGNING_KEY") and not (key_dir / "signing.key").exists():
        _fail(f"no signing key: set MBDG_SIGNING_KEY or use the --project that signed {out_dir}")
    try:
        key = load_or_create_key(key_dir)
    except KeyFileError as error:
        _fail(str(error))
    problems = verify_out_dir(out_dir, key, max_manifest_mb << 20)
    if len(problems) == 1:
        _fail(f"{out_dir}: verification failed: {problems[0]}")
    if problems:
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        _fail(f"{out_dir}: verification failed ({len(problems)} problems)")
    click.echo(f"OK {out_dir}: signature valid (key {key.key_id}); every listed file intact")


@click.group("manifest")
def manifest_group() -> None:
    """Read a signed export's manifest."""


@manifest_group.command("show")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of a summary.")
def show(out_dir: Path, as_json: bool) -> None:
    """Print OUT_DIR/manifest.json readably (it is not verified here: use `mbdg verify`)."""
    from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME
    from mbdg_assets.manifest.summary import render_manifest_summary

    path = out_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"{path}: no manifest (run `mbdg run ... --out {out_dir}` first)")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        _fail(f"{path}: not valid JSON ({error})")
    click.echo(json.dumps(manifest, indent=2, sort_keys=True) if as_json else render_manifest_summary(manifest))


@click.command("lineage")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@PROJECT_OPTION
def lineage(record_id: str, as_json: bool, project_dir: str | None) -> None:
    """Trace RECORD_ID (or a unique prefix) to its candidate siblings, scores, chunk, page and span."""
    from mbdg_assets.storage import warehouse
    from mbdg_assets.manifest.trace import LineageError, format_trace, trace_record

    paths = ProjectPaths(project_dir_from_env(project_dir))
    if not paths.warehouse.exists():
        _fail(f"no warehouse at {paths.warehouse}; pass the --project that built the dataset")
    try:
        with warehouse.connect(paths.warehouse) as con:
            trace = trace_record(con, record_id)
    except LineageError as error:
        _fail(str(error))
    click.echo(json.dumps(trace, indent=2, ensure_ascii=False, default=str) if as_json else format_trace(trace))
