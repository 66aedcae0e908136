"""`mbdg run` as code: sync the docs folder to document partitions, run the document job over
their range (one run, the run a UI backfill makes; against a server its step prepares later
documents while earlier ones generate, defs/lanes.py) and then the dataset job, against the
project's Dagster instance (so the runs show up in the UI later). A failing document is reported
and skipped."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

import dagster as dg
from tqdm import tqdm

from definitions import build_definitions
from mbdg_assets.storage import warehouse
from mbdg_assets.export.coverage import corpus_coverage
from mbdg_assets.extract.folder_scan import display_name, is_valid_name
from mbdg_assets.extract.members import scan_documents, scan_sources
from mbdg_assets.generate.candidates import calls_per_target
from mbdg_assets.generate.goal_rounds import Goal, GoalReport, extra_targets, stop_reason
from mbdg_assets.shared.quotas import quota_shortfalls
from mbdg_assets.generate.planning import KINDS, allocate_targets
from mbdg_assets.llm.progress import CallProgress, add_listener, remove_listener
from mbdg_assets.storage.project import ProjectPaths, dagster_environment, project_config, save_project_config
from mbdg_assets.storage.tables import decision_counts, load_plan_sizes, load_run_facts, purge_removed_documents
from mbdg_assets.storage.vectors import VectorStore

from mbdg_assets.cli.range_runs import failure_reason, run_range, stop_if_interrupted
from mbdg_assets.defs.export import EXPORT_FACTS
from mbdg_assets.defs.partitions import documents_partitions
from mbdg_assets.defs.run_configs import DOCUMENT_STEP, dataset_run_config, document_run_config
from resources import LLMResource, ProjectResource, SignerResource, VectorStoreResource, WarehouseResource

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    documents: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason
    chunks: int = 0
    candidates: int = 0
    failed_candidates: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    seconds: float = 0.0
    dataset_error: str | None = None
    goal: GoalReport | None = None
    new_calls: int = 0             # model calls answered by the model in this run (not the cache)
    decode_tokens: int = 0         # completion tokens of those calls
    decode_seconds: float = 0.0    # and the seconds they took
    coverage: dict = field(default_factory=dict)          # export/coverage.py
    rejections: list[tuple[str, int]] = field(default_factory=list)  # commonest reasons, most frequent first


def sync_partitions(instance: dg.DagsterInstance, docs: Path, paths: ProjectPaths,
                    follow_symlinks: bool = False) -> list[str]:
    """Partitions = documents in the docs folder now (files, and archive members in place of their
    archive: extract/members.py); a vanished document's partition and state are removed."""
    present = list(scan_documents(docs, follow_symlinks))
    known = set(instance.get_dynamic_partitions(documents_partitions.name))
    new = [p for p in present if p not in known]
    if new:
        instance.add_dynamic_partitions(documents_partitions.name, new)
    for path in sorted(known - set(present)):
        instance.delete_dynamic_partition(documents_partitions.name, path)
    with warehouse.connect(paths.warehouse) as con:
        purge_removed_documents(con, VectorStore(paths.lancedb), present)
    return present


def _run_configs(config: dict[str, dict], pipeline: bool = True) -> tuple[dict, dict]:
    """Run config of the document job and of the dataset job: the project configuration's, as
    the UI, the sensors and the schedule build it (the model is bound as a resource here);
    `pipeline` False: the document step prepares every document before generating (--no-pipeline)."""
    document = _with_step(document_run_config(config, with_llm=False), {} if pipeline else {"pipeline": False})
    return QUIET_LOGS | document, QUIET_LOGS | dataset_run_config(config, with_llm=False)


def save_run_settings(paths: ProjectPaths, docs: Path, out: Path, llm: LLMResource, generate: dict,
                      echo: Callable[[str], None], embed: dict | None = None) -> dict[str, dict]:
    """This run's settings become the project configuration (what the UI and sensors use); a
    change from the saved one is said here and recorded (the manifest carries the history)."""
    saved = project_config(paths)
    validate = saved["validate"] | {"schema_name": generate.get("schema_name", "instruction_pair")}
    embed = VectorStoreResource.from_project({"embed": saved["embed"] if embed is None else embed}).settings()
    changed = save_project_config(paths, "mbdg run", docs, out, generate=generate, validate=validate, embed=embed,
                                  llm={"backend": llm.backend, "model": llm.model, "host": llm.host, "hosts": list(llm.hosts)})
    if any(saved.values()) and changed:
        echo("project configuration changed: " + "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items()))
    return project_config(paths)


def _count(con, present: list[str]) -> tuple[int, int, int, int]:
    """Chunks, candidates, failed candidates and model tokens behind the current documents."""
    return con.execute(
        """WITH c AS (SELECT * FROM candidates WHERE path IN (SELECT unnest($p::VARCHAR[])))
           SELECT (SELECT count(*) FROM chunks WHERE path IN (SELECT unnest($p::VARCHAR[]))),
                  (SELECT count(*) FROM c), (SELECT count(*) FROM c WHERE error IS NOT NULL),
                  (SELECT coalesce(sum(CAST(generation_json->>'prompt_tokens' AS BIGINT)
                                       + CAST(generation_json->>'completion_tokens' AS BIGINT)), 0) FROM c)""",
        {"p": present},
    ).fetchone()


class ProgressBar:
    """The model calls' progress: a terminal bar on a tty; where the output goes to a file or a
    pipe (nohup, cron, CI) a plain line every LINE_SECONDS instead, so that a long run does not
    stay silent until its document phase ends (at 1,000 documents that was ~9 minutes)."""

    LINE_SECONDS = 30.0

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.plain = not self.stream.isatty()
        self.clock, self.next_line = clock, 0.0
        self.bar: tqdm | None = None
        self.label = ""

    def __call__(self, progress: CallProgress) -> None:
        if self.plain:
            self._line(progress)
            return
        if self.bar is None or progress.label != self.label:
            self.close()
            self.label = progress.label
            self.bar = tqdm(total=progress.planned, desc=progress.label, unit="call", leave=False, file=self.stream,
                            disable=None, dynamic_ncols=True)
        self.bar.total = max(progress.planned, progress.done)
        self.bar.n = progress.done
        self.bar.set_postfix(tokens=progress.tokens, refresh=True)

    def _line(self, progress: CallProgress) -> None:
        now = self.clock()
        if now < self.next_line and progress.label == self.label:
            return
        self.label, self.next_line = progress.label, now + self.LINE_SECONDS
        failed = f", {progress.failed} failed" if progress.failed else ""
        print(f"{progress.label}: {progress.done}/{progress.planned} model calls{failed}, {progress.tokens} tokens, "
              f"{progress.elapsed:.0f}s", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _document_failures(paths: ProjectPaths, present: list[str]) -> dict[str, str]:
    """Documents with no extracted text now, each with its latest recorded extraction error (None
    for one that has none: its run did not get to it)."""
    with warehouse.connect(paths.warehouse) as con:
        rows = con.execute(
            """SELECT p.path, (SELECT e.reason FROM extraction_errors e WHERE e.path = p.path
                                ORDER BY e.failed_at DESC LIMIT 1)
               FROM (SELECT unnest($p::VARCHAR[]) AS path) p
               WHERE p.path NOT IN (SELECT path FROM documents)""", {"p": present}).fetchall()
    return dict(rows)


PER_DOCUMENT_LINES = 50  # above this many documents the summary counts parsers instead of listing each file


def _echo_documents(paths: ProjectPaths, present: list[str], failures: dict[str, str],
                    echo: Callable[[str], None]) -> None:
    """Every failed document with its reason; the others with the format and parser that read them
    (one line each for a small folder, counts per parser for a large one)."""
    with warehouse.connect(paths.warehouse) as con:
        read = dict((path, (fmt, parser)) for path, fmt, parser in con.execute(
            "SELECT path, format, parser FROM documents WHERE path IN (SELECT unnest($p::VARCHAR[]))",
            {"p": present}).fetchall())
    for path, reason in failures.items():
        echo(f"{path}: ERROR {reason}")
    ok = [path for path in present if path not in failures and path in read]
    if len(present) <= PER_DOCUMENT_LINES:
        for path in ok:
            echo(f"{path}: ok ({read[path][0]}, {read[path][1] or 'native'})")
    elif ok:
        counts = Counter(f"{read[p][0]} by {read[p][1] or 'native'}" for p in ok)
        echo("read: " + ", ".join(f"{n} {what}" for what, n in counts.most_common()))


def _run_documents(job, instance, present: list[str], run_config: dict, summary: RunSummary, bar: ProgressBar,
                   echo: Callable[[str], None], paths: ProjectPaths, asset_selection: list[dg.AssetKey] | None = None) -> None:
    """One Dagster run over the document partitions' range, the run a UI backfill makes."""
    if not present:
        return
    keys = instance.get_dynamic_partitions(documents_partitions.name)  # the range is in the instance's order
    t0 = time.monotonic()
    outcome = run_range(job, instance, keys, run_config, asset_selection)
    bar.close()
    unread = _document_failures(paths, present)
    failures = {path: reason for path, reason in unread.items() if reason}
    failures = outcome.failed_documents | failures  # the recorded extraction error stays the reason where there is one
    if not outcome.success:  # the step failed as a whole: each document it held fails
        failures |= {path: outcome.failure for path in outcome.keys if path in present and path not in failures}
    failures |= {path: "not extracted (see the run log)" for path in unread if path not in failures}
    summary.failures = failures
    _echo_documents(paths, present, failures, echo)
    echo(f"{len(present)} document(s): {len(present) - len(failures)} ok, {len(failures)} failed "
         f"({time.monotonic() - t0:.1f}s)")


def _run_dataset(defs, instance, dataset_config: dict, summary: RunSummary) -> None:
    result = defs.resolve_job_def("dataset_job").execute_in_process(run_config=dataset_config, instance=instance,
                                                                    raise_on_error=False)
    stop_if_interrupted(result)
    summary.dataset_error = None if result.success else failure_reason(result)


def _with_step(document_config: dict, overrides: dict) -> dict:
    """The document run config with `overrides` of the document step's own settings."""
    step = document_config["ops"][DOCUMENT_STEP]["config"] | overrides
    return document_config | {"ops": document_config["ops"] | {DOCUMENT_STEP: {"config": step}}}


def _with_generate(document_config: dict, **overrides) -> dict:
    generate = document_config["ops"][DOCUMENT_STEP]["config"]["generate"] | overrides
    return _with_step(document_config, {"generate": generate})


def _plan_sizes(paths: ProjectPaths, present: list[str]) -> dict[str, list[int]]:
    """Length of each pass of every document's plan, as the candidates asset recorded it when it
    planned the document (one never planned, e.g. one that failed extraction, has nothing left)."""
    with warehouse.connect(paths.warehouse) as con:
        recorded = load_plan_sizes(con, present)
    return {path: recorded.get(path, [0] * len(KINDS)) for path in present}


def _last_model_error(paths: ProjectPaths) -> str:
    with warehouse.connect(paths.warehouse) as con:
        row = con.execute("SELECT error FROM candidates WHERE error IS NOT NULL ORDER BY created_at DESC LIMIT 1").fetchone()
    return row[0] if row else "no candidate was made (see the run log)"


def _goal_counts(paths: ProjectPaths, goal: Goal) -> tuple[int, int, list[str]]:
    """Approved records, model calls stored in the cache (answered calls) so far, and the quotas
    the approved records cannot meet yet."""
    with warehouse.connect(paths.warehouse) as con:
        approved = con.execute("SELECT record_id, score, topic, schema_name, generation_json FROM records "
                               "WHERE decision = 'AUTO_APPROVE'").fetchall()
        calls = con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    lines = [{"record_id": r, "score": s, "topic": t, "schema": n, "generation": json.loads(g)} for r, s, t, n, g in approved]
    return len(lines), calls, quota_shortfalls(lines, goal.records, goal.quotas)


def _next_budgets(extra: int, budgets: dict[str, int], sizes: dict[str, list[int]],
                  present: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(targets each document has used, its budget for the next round). Before the first round the
    plans are unknown (documents may not be extracted yet): an even split; then `extra` more,
    spread for coverage."""
    if not sizes:
        return {}, {p: math.ceil(extra / max(len(present), 1)) for p in present}
    used = {p: min(budgets[p], sum(sizes[p])) for p in present}
    return used, allocate_targets(extra, used, sizes)


def _run_to_goal(defs, instance, present: list[str], configs: tuple[dict, dict], generate: dict, goal: Goal,
                 paths: ProjectPaths, summary: RunSummary, bar: ProgressBar, echo: Callable[[str], None]) -> None:
    """Rounds of generation and validation until `goal.records` are approved or a budget ends it.
    Every round re-plans each document with a larger budget: its earlier targets are cache hits,
    so only the new targets cost model calls, and no record is made twice."""
    document_config, dataset_config = configs
    export = {"max_records": goal.records, "quotas": [f"{q.field}:{q.value}={q.share}" for q in goal.quotas]}
    dataset_config = dataset_config | {"ops": dataset_config["ops"] | {"training_dataset": {"config": export}}}
    per_target = calls_per_target(generate.get("k", 4), bool(generate.get("judge")), generate.get("schema_name", ""))
    report, budgets, sizes = GoalReport(goal.records), {}, {}
    _approved, calls_at_start, _short = _goal_counts(paths, goal)
    job, selection = defs.resolve_job_def("document_job"), None
    extra = extra_targets(goal, 0, 0, per_target, 0)
    while True:
        used, new = _next_budgets(extra, budgets, sizes, present)
        if report.rounds and sum(new.values()) <= sum(used.values()):
            report.stopped = stop_reason(goal, report, False, per_target)
            break
        budgets, report.rounds, calls_before = new, report.rounds + 1, report.calls
        echo(f"round {report.rounds}: up to {sum(budgets.values())} targets over {len(present)} document(s)")
        # documents whose budget did not grow plan as before: their calls are cache hits
        _run_documents(job, instance, present, _with_generate(document_config, targets_per_document=budgets),
                       summary, bar, echo, paths, selection)
        selection = [dg.AssetKey("candidates")]  # later rounds: documents are extracted and enriched already
        _run_dataset(defs, instance, dataset_config, summary)
        sizes = _plan_sizes(paths, present)
        report.approved, calls, report.shortfalls = _goal_counts(paths, goal)
        report.calls = calls - calls_at_start
        report.targets = sum(min(budgets[p], sum(sizes[p])) for p in present)
        echo(f"round {report.rounds}: {report.approved} approved of {goal.records} asked "
             f"({report.targets} targets, {report.calls} new model calls)")
        extra = extra_targets(goal, report.approved, report.targets, per_target, report.calls, bool(report.shortfalls))
        # round 1 may be all cache hits (a rerun); a later round always asks new targets, and a
        # round 1 in which every document failed had no answer either (a dead server: stop now)
        unanswered = report.rounds > 1 or set(present) <= set(summary.failures)
        stalled = _last_model_error(paths) if unanswered and report.calls == calls_before else ""
        report.stopped = (stop_reason(goal, report, extra > 0, per_target, stalled) if summary.dataset_error is None
                          else "the dataset phase failed")
        if report.stopped:
            break
    summary.goal = report


def _echo_skipped(docs: Path, follow_symlinks: bool, echo: Callable[[str], None]) -> None:
    """Folder entries the run does not read (links out of the folder, FIFOs, devices, names
    that are not UTF-8 or archive member names that cannot be keys), each with its reason."""
    scan = scan_sources(docs, follow_symlinks)
    skipped = [(s.path, s.reason) for s in scan.skipped]
    skipped += [(Path(name), "file name is not valid UTF-8: rename it to read it")
                for name in scan.documents if not is_valid_name(name)]
    for path, reason in skipped:
        echo(f"skipped {display_name(path)}: {reason}")


def project_definitions(project_dir: str, docs: str, out: str, llm: dict, config: dict[str, dict],
                        follow_symlinks: bool, allow_key_change: bool) -> dg.Definitions:
    """The project's definitions as `mbdg run` runs them (`llm`: LLMResource's fields)."""
    paths = ProjectPaths(Path(project_dir))
    return build_definitions(
        project=ProjectResource(project_dir=str(paths.root), docs_dir=docs, out_dir=out, follow_symlinks=follow_symlinks),
        llm=LLMResource(**llm), warehouse=WarehouseResource(path=str(paths.warehouse)),
        vectors=VectorStoreResource.from_project(config, uri=str(paths.lancedb)),
        signer=SignerResource(key_dir=str(paths.keys), allow_key_change=allow_key_change), config=config,
    )


def run_pipeline(docs: Path, out: Path, project_dir: Path, llm: LLMResource, generate: dict,
                 echo: Callable[[str], None] = print, goal: Goal | None = None, allow_key_change: bool = False,
                 follow_symlinks: bool = False, embed: dict | None = None, pipeline: bool = True) -> RunSummary:
    """Every phase for every document, then the dataset phase; with a `goal`, rounds of that
    until the goal's number of records is approved or its budget is spent. `embed`: the embedder's
    settings (VectorStoreResource fields; None = the project's, else the local model); `pipeline`:
    let the document step overlap preparing and generating where a server generates (defs/lanes.py)."""
    started, summary = time.monotonic(), RunSummary()
    run_started = datetime.now(timezone.utc)
    paths = ProjectPaths(project_dir)
    os.environ.update(dagster_environment(paths))
    config = save_run_settings(paths, docs, out, llm, generate, echo, embed)
    llm_fields = {name: getattr(llm, name) for name in LLMResource.model_fields}
    defs = project_definitions(str(paths.root), str(docs), str(out), llm_fields, config, follow_symlinks, allow_key_change)
    document_config, dataset_config = _run_configs(config, pipeline)
    bar = ProgressBar()
    add_listener(bar)
    try:
        with dg.DagsterInstance.from_config(str(paths.dagster_home)) as instance:
            present = sync_partitions(instance, docs, paths, follow_symlinks)
            _echo_skipped(docs, follow_symlinks, echo)
            summary.documents = len(present)
            if goal is None:
                _run_documents(defs.resolve_job_def("document_job"), instance, present, document_config,
                               summary, bar, echo, paths)
                _run_dataset(defs, instance, dataset_config, summary)
            else:
                _run_to_goal(defs, instance, present, (document_config, dataset_config), generate, goal, paths,
                             summary, bar, echo)
    finally:
        remove_listener(bar)
        bar.close()
    with warehouse.connect(paths.warehouse) as con:
        summary.chunks, summary.candidates, summary.failed_candidates, summary.tokens = _count(con, present)
        summary.decisions = decision_counts(con)
        summary.new_calls, summary.decode_tokens, summary.decode_seconds = con.execute(
            "SELECT count(*), coalesce(sum(completion_tokens), 0), coalesce(sum(seconds), 0) FROM llm_calls "
            "WHERE created_at >= ?", [run_started]).fetchone()
        summary.coverage = _coverage(con, present, summary.dataset_error)
        summary.rejections = rejection_reasons(con)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def _coverage(con, present: list[str], dataset_error: str | None) -> dict:
    """The corpus coverage the export has just stored with its facts (run_facts), when the
    dataset run succeeded (so they are this run's) and its sources are these documents (those
    extracted: a failed one has no chunks to cover); else computed here. Computing it again
    took 2-3 s at 1,000 documents, after the server's last answer."""
    facts = load_run_facts(con, EXPORT_FACTS) if dataset_error is None else None
    if facts and "coverage" in facts:
        extracted = {p for (p,) in con.execute("SELECT path FROM documents WHERE path IN (SELECT unnest(?::VARCHAR[]))",
                                                [present]).fetchall()}
        if {s["path"] for s in facts.get("sources", [])} == extracted:
            return facts["coverage"]
    return corpus_coverage(con, present)


_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\b[0-9a-f]{12,}\b|\d+(?:\.\d+)?%?")


def rejection_reasons(con, top: int = 3) -> list[tuple[str, int]]:
    """The commonest reasons of rejected records and of candidates that made no record, with their
    varying parts (quotes, figures, ids) blanked so that equal reasons count together."""
    texts = [reason for (reasons,) in con.execute("SELECT reasons FROM records WHERE decision = 'AUTO_REJECT'").fetchall()
             for reason in reasons]
    texts += [error for (error,) in con.execute("SELECT error FROM candidates WHERE error IS NOT NULL").fetchall()]
    counts = Counter(" ".join(_VARYING.sub("…", text).split())[:140] for text in texts)
    return counts.most_common(top)
