"""The `mbdg` command line. Every command exits 0 on success and non-zero with a one-line reason."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mbdg_assets.cli.options import PROJECT_OPTION, llm_options
from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env


def _fail(message: str) -> None:
    click.echo(f"mbdg: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """mbdg: validated, signed synthetic training data from your own documents."""


@main.command()
@click.argument("docs_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Where dataset.jsonl and manifest.json go.")
@click.option("--schema", "schema_name", default="instruction_pair", show_default=True,
              help="instruction_pair | mcq | chat, or the path of your own JSON Schema file.")
@llm_options
@click.option("--k", default=4, show_default=True, type=click.IntRange(1, 32), help="Candidates per target.")
@click.option("--max-targets", default=8, show_default=True, type=click.IntRange(1),
              help="Targets per document (ignored with --records, which plans them).")
@click.option("--records", default=0, type=click.IntRange(0),
              help="Generate in rounds until this many records are approved (or a budget ends it); the dataset holds the best N.")
@click.option("--max-calls", default=0, type=click.IntRange(0), help="With --records: new model calls this run may make (0: no limit).")
@click.option("--max-rounds", default=6, show_default=True, type=click.IntRange(1), help="With --records: rounds at most.")
@click.option("--quota", "quotas", multiple=True, metavar="FIELD:VALUE=SHARE",
              help="With --records: a minimum share of the N records, e.g. difficulty:hard=0.3 or topic:Roasting=0.2 "
                   "(fields: difficulty, topic, target_kind, schema). Repeatable.")
@click.option("--kinds", default="base,multihop,deepen,broaden", show_default=True,
              help="Target kinds to plan, in this order of priority: base, multihop, deepen, broaden.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--concurrency", default=0, type=click.IntRange(0, 4096),
              help="Most model requests in flight for the whole run, across documents and --host endpoints "
                   "(default: 1 embedded, 8 per server); lowered while servers throttle (429/503/timeouts), raised again as they recover.")
@click.option("--judge/--no-judge", default=False, show_default=True,
              help="Have the model grade each candidate's usefulness (K more calls per target).")
@click.option("--seed-examples", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSONL of your own records in the target schema: style anchors, never copied.")
@PROJECT_OPTION
def run(docs_dir: Path, out_dir: Path, schema_name: str, backend: str, model: str, hosts: tuple[str, ...], k: int,
        max_targets: int, records: int, max_calls: int, max_rounds: int, quotas: tuple[str, ...], kinds: str,
        seed: int, concurrency: int, judge: bool, seed_examples: Path | None, project_dir: str | None) -> None:
    """Materialize every phase for every document in DOCS_DIR, in this process."""
    from mbdg_assets.llm.prompts import load_template
    from mbdg_assets.cli.run import run_pipeline
    from resources import LLMResource

    if not docs_dir.is_dir():
        _fail(f"{docs_dir}: not a folder of documents")
    if schema_name.endswith(".json"):
        schema_name = str(Path(schema_name).resolve())
    try:
        load_template(schema_name)
    except ValueError as error:
        _fail(str(error))
    if seed_examples:
        from mbdg_assets.generate.personas import load_seed_examples

        try:
            load_seed_examples(seed_examples)
        except ValueError as error:
            _fail(str(error))
    llm = LLMResource(backend=backend, model=model, hosts=list(hosts))
    generate = {"schema_name": schema_name, "k": k, "max_targets_per_document": max_targets, "seed": seed,
                "concurrency": concurrency, "judge": judge, "target_kinds": _target_kinds(kinds),
                "seed_examples_path": str(seed_examples.resolve()) if seed_examples else ""}
    goal = _goal(records, max_calls, max_rounds, quotas)
    summary = run_pipeline(docs_dir.resolve(), out_dir.resolve(), project_dir_from_env(project_dir), llm, generate,
                           click.echo, goal)
    _print_summary(summary, out_dir)
    if summary.dataset_error:
        _fail(f"dataset phase failed: {summary.dataset_error}")
    if summary.documents and len(summary.failures) == summary.documents:
        _fail("no document could be processed (see the errors above)")


def _target_kinds(kinds: str) -> list[str]:
    from mbdg_assets.generate.planning import KINDS

    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    if not chosen or set(chosen) - set(KINDS):
        _fail(f"--kinds: unknown kind(s) in {kinds!r}; known: {', '.join(KINDS)}")
    return chosen


def _goal(records: int, max_calls: int, max_rounds: int, quotas: tuple[str, ...]):
    """The --records goal (None without it), or a one-line error for a bad --quota."""
    from mbdg_assets.generate.goal_rounds import Goal, Quota

    try:
        parsed = tuple(Quota.parse(q) for q in quotas)
    except ValueError as error:
        _fail(str(error))
    if parsed and not records:
        _fail("--quota needs --records N (quotas are shares of the N records asked for)")
    return Goal(records, max_calls, max_rounds, parsed) if records else None


def _print_summary(summary, out_dir: Path) -> None:
    ok = summary.documents - len(summary.failures)
    decisions = summary.decisions
    click.echo(
        f"\ndocuments: {summary.documents} ({ok} ok, {len(summary.failures)} failed)  chunks: {summary.chunks}  "
        f"candidates: {summary.candidates} ({summary.failed_candidates} malformed)\n"
        f"records: approved {decisions.get('AUTO_APPROVE', 0)}, review {decisions.get('REQUIRE_REVIEW', 0)}, "
        f"rejected {decisions.get('AUTO_REJECT', 0)}  time: {summary.seconds:.1f}s\n"
        f"tokens: {summary.tokens} ({summary.tokens // max(decisions.get('AUTO_APPROVE', 0), 1)} per approved record)"
    )
    if summary.goal:
        click.echo(summary.goal.line())
    for path, reason in summary.failures.items():
        click.echo(f"  failed: {path}: {reason}")
    click.echo(f"output: {out_dir / 'dataset.jsonl'}, {out_dir / 'manifest.json'}")


@main.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@PROJECT_OPTION
def verify(out_dir: Path, project_dir: str | None) -> None:
    """Check OUT_DIR's manifest signature and the hash of every file it lists."""
    from mbdg_assets.manifest.signed_manifest import verify_out_dir
    from mbdg_assets.manifest.signing import KeyFileError, load_or_create_key

    key_dir = ProjectPaths(project_dir_from_env(project_dir)).keys
    if not os.environ.get("MBDG_SIGNING_KEY") and not (key_dir / "signing.key").exists():
        _fail(f"no signing key: set MBDG_SIGNING_KEY or use the --project that signed {out_dir}")
    try:
        key = load_or_create_key(key_dir)
    except KeyFileError as error:
        _fail(str(error))
    problems = verify_out_dir(out_dir, key)
    if problems:
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        _fail(f"{out_dir}: verification failed ({len(problems)} problem(s))")
    click.echo(f"OK {out_dir}: signature valid (key {key.key_id}); every listed file intact")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@PROJECT_OPTION
def ui(host: str, port: int, project_dir: str | None) -> None:
    """Start the Dagster UI on this project; Ctrl-C or SIGTERM stops it cleanly."""
    from mbdg_assets.cli.ui import serve_ui

    sys.exit(serve_ui(ProjectPaths(project_dir_from_env(project_dir)), host, port))


from mbdg_assets.cli.extract import extract as _extract  # noqa: E402  (issue 3: extraction alone)
main.add_command(_extract)

from mbdg_assets.cli.manifest import lineage as _lineage, manifest_group as _manifest  # noqa: E402  (issue 6)
main.add_command(_manifest)
main.add_command(_lineage)

from mbdg_assets.cli.review import review as _review  # noqa: E402  (issue 7: review queue)
main.add_command(_review)

from mbdg_assets.cli.validate import validate as _validate  # noqa: E402  (issue 5: validate any dataset)
main.add_command(_validate)


if __name__ == "__main__":  # python -m mbdg_assets.cli.main (runs this checkout, not the installed entry point)
    main()
