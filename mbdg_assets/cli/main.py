"""The `mbdg` command line. Every command exits 0 on success and non-zero with a one-line reason."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mbdg_assets.cli.options import EMBED_PARAMETERS, PROJECT_OPTION, embed_options, embed_settings, llm_options
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
              help="instruction_pair | mcq | chat | preference, or the path of your own JSON Schema file.")
@llm_options
@embed_options
@click.option("--k", default=None, type=click.IntRange(1, 32),
              help="Candidates per target [default: 6 with extractive answers, 4 else].")
@click.option("--max-targets", default=None, type=click.IntRange(1),
              help="Targets per document (ignored with --records, which plans them) [default: 12 with extractive "
                   "answers, 8 else].")
@click.option("--records", default=0, type=click.IntRange(0),
              help="Generate in rounds until this many records are approved (or a budget ends it); the dataset holds the best N.")
@click.option("--max-calls", default=0, type=click.IntRange(0), help="With --records: new model calls this run may make (0: no limit).")
@click.option("--max-rounds", default=6, show_default=True, type=click.IntRange(1), help="With --records: rounds at most.")
@click.option("--quota", "quotas", multiple=True, metavar="FIELD:VALUE=SHARE",
              help="With --records: a minimum share of the N records, e.g. difficulty:hard=0.3 or topic:Roasting=0.2 "
                   "(fields: difficulty, topic, target_kind, schema). Repeatable.")
@click.option("--kinds", default="base,multihop,deepen,broaden", show_default=True,
              help="Target kinds to plan, in this order of priority: base, multihop, deepen, broaden.")
@click.option("--answer-mode", default="auto", show_default=True, type=click.Choice(["auto", "extractive", "abstractive"]),
              help="extractive: the model writes the question, the chosen fact is the answer (grounded by construction); "
                   "abstractive: the model writes both; auto: extractive for the embedded model, abstractive for servers.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--concurrency", default=0, type=click.IntRange(0, 4096),
              help="Most model requests in flight for the whole run, across documents and --host endpoints "
                   "(default: 1 embedded, 8 per server); lowered while servers throttle (429/503/timeouts), raised again as they recover.")
@click.option("--judge/--no-judge", default=False, show_default=True,
              help="Have the model grade each candidate's usefulness (K more calls per target).")
@click.option("--seed-examples", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSONL of your own records in the target schema: style anchors, never copied.")
@click.option("--allow-key-change", is_flag=True,
              help="Sign even if the key differs from the one that signed the project's last manifest (recorded in it).")
@click.option("--follow-symlinks", is_flag=True,
              help="Read links that lead out of DOCS_DIR (default: skipped and listed).")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="With a model server and 64+ documents, extract and embed the next slice of documents in a "
                   "second process while the server generates for the last one (docs/scaling.md).")
@PROJECT_OPTION
def run(docs_dir: Path, out_dir: Path, schema_name: str, backend: str, model: str, hosts: tuple[str, ...],
        embed_backend: str, embed_model: str, embed_hosts: tuple[str, ...], embed_batch_size: int, embed_api_key_env: str,
        k: int | None,
        max_targets: int | None, records: int, max_calls: int, max_rounds: int, quotas: tuple[str, ...], kinds: str,
        answer_mode: str, seed: int, concurrency: int, judge: bool, seed_examples: Path | None, allow_key_change: bool,
        follow_symlinks: bool, pipeline: bool,
        project_dir: str | None) -> None:
    """Materialize every phase for every document in DOCS_DIR (in this process, and with --pipeline
    against a server also in one that prepares the next documents)."""
    from mbdg_assets.generate.candidates import plan_defaults
    from mbdg_assets.llm.prompts import load_template, resolve_answer_mode
    from mbdg_assets.cli.run import run_pipeline

    if not docs_dir.is_dir():
        _fail(f"{docs_dir}: not a folder of documents")
    if schema_name.endswith(".json"):
        schema_name = str(Path(schema_name).resolve())
    try:
        load_template(schema_name)
    except ValueError as error:
        _fail(str(error))
    if seed_examples:
        from mbdg_assets.shared.seed_examples import load_seed_examples

        try:
            load_seed_examples(seed_examples)
        except ValueError as error:
            _fail(str(error))
    llm = _project_or_given_llm(project_dir_from_env(project_dir), backend, model, hosts)
    embed = _project_or_given_embed(project_dir_from_env(project_dir), embed_settings(
        embed_backend, embed_model, embed_hosts, embed_batch_size, embed_api_key_env))
    k, max_targets = plan_defaults(k, max_targets, resolve_answer_mode(answer_mode, llm.backend, schema_name))
    generate = {"schema_name": schema_name, "k": k, "max_targets_per_document": max_targets, "seed": seed,
                "concurrency": concurrency, "judge": judge, "target_kinds": _target_kinds(kinds), "answer_mode": answer_mode,
                "seed_examples_path": str(seed_examples.resolve()) if seed_examples else ""}
    goal = _goal(records, max_calls, max_rounds, quotas)
    try:
        summary = run_pipeline(docs_dir.resolve(), out_dir.resolve(), project_dir_from_env(project_dir), llm, generate,
                               click.echo, goal, allow_key_change, follow_symlinks, embed, pipeline)
    except KeyboardInterrupt:
        click.echo("mbdg: interrupted; the same command goes on from here (answers received are kept)", err=True)
        sys.exit(130)
    _print_summary(summary, out_dir)
    if summary.dataset_error:
        _fail(f"dataset phase failed: {summary.dataset_error}")
    if summary.documents and len(summary.failures) == summary.documents:
        _fail("no document could be processed (see the errors above)")


def _project_or_given_llm(project: Path, backend: str, model: str, hosts: tuple[str, ...]):
    """Without --backend, --model or --host a run keeps the project's model (what the last run and
    the UI use); giving any of them chooses anew, and the change is said and recorded."""
    from mbdg_assets.storage.project import project_config
    from resources import LLMResource

    context = click.get_current_context()
    given = any(context.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
                for name in ("backend", "model", "hosts"))
    saved = project_config(ProjectPaths(project))["llm"]
    if not given and saved:
        where = " ".join([saved.get("host") or "", *(saved.get("hosts") or [])]).strip()
        click.echo(f"model: {saved.get('backend')} {saved.get('model') or '(default)'} {where} "
                   "(the project's; --backend/--model/--host to change it)".replace("  ", " "))
        return LLMResource.from_project({"llm": saved})
    return LLMResource(backend=backend, model=model, hosts=list(hosts))


def _project_or_given_embed(project: Path, given: dict) -> dict:
    """The embedder as --model is: without any --embed-* option a run keeps the project's (the
    last run's, the UI's); giving one chooses anew (a change re-embeds every document)."""
    from mbdg_assets.storage.project import project_config

    context = click.get_current_context()
    chosen = any(context.get_parameter_source(name) != click.core.ParameterSource.DEFAULT for name in EMBED_PARAMETERS)
    saved = project_config(ProjectPaths(project))["embed"]
    if not chosen and saved:
        if saved.get("embed_backend", "local") != "local":
            click.echo(f"embedding model: {saved.get('embed_backend')} {saved.get('embedding_model') or '(default)'} "
                       "(the project's; --embed-backend/--embed-model/--embed-host to change it)")
        return saved
    return given


def _target_kinds(kinds: str) -> list[str]:
    from mbdg_assets.generate.planning import KINDS

    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    if not chosen or set(chosen) - set(KINDS):
        _fail(f"--kinds: unknown kind(s) in {kinds!r}; known: {', '.join(KINDS)}")
    return chosen


def _goal(records: int, max_calls: int, max_rounds: int, quotas: tuple[str, ...]):
    """The --records goal (None without it), or a one-line error for a bad --quota."""
    from mbdg_assets.generate.goal_rounds import Goal
    from mbdg_assets.shared.quotas import Quota

    try:
        parsed = tuple(Quota.parse(q) for q in quotas)
    except ValueError as error:
        _fail(str(error))
    if parsed and not records:
        _fail("--quota needs --records N (quotas are shares of the N records asked for)")
    return Goal(records, max_calls, max_rounds, parsed) if records else None


LITTLE_APPROVED = 0.25  # below this share of records approved, the summary says why and what would help


def summary_lines(summary) -> list[str]:
    """The closing note of `mbdg run`: counts, model throughput, coverage; a per-approved-record
    cost only when something was approved; the commonest rejection reasons and what would help
    when little was."""
    ok, decisions = summary.documents - len(summary.failures), summary.decisions
    approved, records = decisions.get("AUTO_APPROVE", 0), sum(decisions.values())
    rate = summary.decode_tokens / summary.decode_seconds if summary.decode_seconds else 0.0
    lines = [f"documents: {summary.documents} ({ok} ok, {len(summary.failures)} failed)  chunks: {summary.chunks}  "
             f"candidates: {summary.candidates} ({summary.failed_candidates} malformed)",
             f"records: approved {approved}, review {decisions.get('REQUIRE_REVIEW', 0)}, "
             f"rejected {decisions.get('AUTO_REJECT', 0)}  time: {summary.seconds:.1f}s",
             f"model: {summary.new_calls} new calls, {summary.decode_tokens} tokens generated at {rate:.1f} tokens/s; "
             f"tokens behind these candidates: {summary.tokens}"
             + (f" ({summary.tokens // approved} per approved record)" if approved else "")]
    if summary.coverage:
        from mbdg_assets.export.coverage import coverage_line

        lines.append(coverage_line(summary.coverage))
    if records and approved / records < LITTLE_APPROVED or not approved:
        lines.append(f"{'No' if not approved else 'Few'} records were approved. Commonest reasons:")
        lines += [f"  {n} x {reason}" for reason, n in summary.rejections] or ["  (no records were made)"]
        lines.append("What would help: a bigger model (--backend ollama --model llama3.2:3b, or --backend openai with "
                     "your server's --model), --answer-mode extractive with a small model, or more --max-targets.")
    return lines


def _print_summary(summary, out_dir: Path) -> None:
    click.echo("\n" + "\n".join(summary_lines(summary)))
    if summary.goal:
        click.echo(summary.goal.line())
    for path, reason in summary.failures.items():
        click.echo(f"  failed: {path}: {reason}")
    click.echo(f"output: {out_dir / 'dataset.jsonl'}, {out_dir / 'manifest.json'}")


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

from mbdg_assets.cli.manifest import lineage as _lineage, manifest_group as _manifest, verify as _verify  # noqa: E402  (issue 6)
main.add_command(_verify)
main.add_command(_manifest)
main.add_command(_lineage)

from mbdg_assets.cli.review import review as _review  # noqa: E402  (issue 7: review queue)
main.add_command(_review)

from mbdg_assets.cli.validate import validate as _validate  # noqa: E402  (issue 5: validate any dataset)
main.add_command(_validate)


if __name__ == "__main__":  # `python -m mbdg_assets.cli.main`: the worktree's code, whatever `mbdg` is on PATH
    main()
