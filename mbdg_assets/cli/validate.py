"""`mbdg validate RECORDS.jsonl --sources DOCS_DIR --out REPORT.jsonl`: the five-stage validator on
any existing dataset (a user's, or another tool's), against the documents it claims to come from.

No Dagster and no warehouse: the sources are extracted and chunked with the pipeline's own code,
each record is matched to its best-supporting chunk (embedding cosine plus lexical coverage of
its answer, one matrix product for the whole file), and `validate_candidates` runs as in a
pipeline run. One report line per input line, in input order, carrying the input's own `id`.
With `--judge` (or `auto` and a server backend) the grounding stage asks the LLM entailment
judge about reworded claims; its calls are cached in the project's warehouse.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np

from mbdg_assets.cli.extract import expand
from mbdg_assets.cli.options import PROJECT_OPTION, embed_options, embed_settings, llm_options
from mbdg_assets.enrich.chunking import chunk_document
from mbdg_assets.enrich.embedding_servers import EmbeddingServerError
from mbdg_assets.validate.contamination import EvalIndex
from mbdg_assets.validate.decisions import AUTO_REJECT
from mbdg_assets.validate.eval_sets import EvalSetError, load_eval_texts
from mbdg_assets.extract.extraction import ExtractionError
from mbdg_assets.extract.members import extract_source, one_archive_at_a_time
from mbdg_assets.shared.text import content_stems

# Keys of mbdg's own record contract: not part of a record's fields when an mbdg export is re-validated.
CONTRACT_KEYS = {"id", "record_id", "schema", "chunk_ids", "doc_ids", "source_paths", "topic", "stage_scores", "score",
                 "decision", "reasons", "supporting_spans", "generation", "duplicate_of", "split"}


def record_fields(item: dict) -> dict:
    """A record's own fields: `fields` when given, else the line minus mbdg's contract keys."""
    if isinstance(item.get("fields"), dict):
        return item["fields"]
    return {k: v for k, v in item.items() if k not in CONTRACT_KEYS}


def guess_schema(fields: dict) -> str:
    if "messages" in fields:
        return "chat"
    if "options" in fields and "answer" in fields:
        return "mcq"
    return "instruction_pair"


def load_source_chunks(sources: Path, echo) -> list[dict]:
    """Every chunk of every readable document under `sources` (unreadable files are reported)."""
    chunks = []
    for path in one_archive_at_a_time(expand((sources,))):
        try:
            doc = extract_source(path)
        except ExtractionError as error:
            echo(f"{path}: skipped ({error.code}: {error.message})")
            continue
        relative = str(path.relative_to(sources)) if sources.is_dir() else path.name
        for c in chunk_document(doc):
            chunks.append({"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": relative, "text": c.text,
                           "topic": c.heading_path[0] if c.heading_path else Path(relative).stem})
    return chunks


def best_chunks(answers: list[str], chunks: list[dict], embedder) -> list[int]:
    """Index of the best-supporting chunk per answer: mean of embedding cosine and the share of
    the answer's content stems found in the chunk (lexical alone without an embedder)."""
    chunk_stems = [set(content_stems(c["text"])) for c in chunks]
    lexical = np.zeros((len(answers), len(chunks)))
    for i, answer in enumerate(answers):
        stems = set(content_stems(answer))
        if stems:
            lexical[i] = [len(stems & cs) / len(stems) for cs in chunk_stems]
    if embedder is None:
        return lexical.argmax(axis=1).tolist()
    cosine = embedder.embed(answers) @ embedder.embed([c["text"] for c in chunks]).T
    return (0.5 * lexical + 0.5 * cosine).argmax(axis=1).tolist()


@contextmanager
def _cached_judge(backend: str, model: str, hosts: tuple[str, ...], project_dir: str | None) -> Iterator:
    """The entailment judge over the chosen model, its calls cached in the project's warehouse."""
    from mbdg_assets.storage import warehouse
    from mbdg_assets.validate.entailment import EntailmentJudge
    from mbdg_assets.llm.cache import CachedLLM
    from mbdg_assets.storage.project import ProjectPaths, project_dir_from_env
    from resources import LLMResource

    try:
        llm = LLMResource(backend=backend, model=model, hosts=list(hosts)).client()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    with warehouse.connect(ProjectPaths(project_dir_from_env(project_dir)).warehouse) as con:
        yield EntailmentJudge(CachedLLM(llm, con))


# A record line nested deeper than this is refused (every stage walks the record recursively).
MAX_LINE_DEPTH = 64


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _depth(value) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """One input line as a record object, or the reason it is not one. Strict: UTF-8, JSON without
    NaN/Infinity, an object, nested at most MAX_LINE_DEPTH deep."""
    if not raw.strip():
        return None, "blank line"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})"
    try:
        item = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    except ValueError as error:
        return None, f"not valid JSON ({error})"
    if not isinstance(item, dict):
        return None, f"not a JSON object (a JSON {type(item).__name__})"
    if _depth(item) > MAX_LINE_DEPTH:
        return None, f"nested more than {MAX_LINE_DEPTH} levels deep"
    return item, None


def _shown(value, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def prior_reward(item: dict) -> tuple[float, list[str]]:
    """The line's own `reward` (else `score`) as the validator's prior; another tool's non-numeric
    score ("high", {...}) is ignored with a warning rather than failing the line."""
    for key in ("reward", "score"):
        if key not in item or item[key] is None:
            continue
        value = item[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                if math.isfinite(number := float(value)):
                    return number, []
            except OverflowError:
                pass
        return 0.0, [f"input: {key!r} is not a number ({_shown(value)}); ignored"]
    return 0.0, []


def _fields_problem(fields: dict, template) -> str | None:
    """Why the validator could not read these fields (a chat turn whose content is a number...),
    checked per line with the validator's own readers so one odd line cannot stop the file."""
    from mbdg_assets.validate.validator import record_text

    try:
        template.answer_of(fields), template.question_of(fields), record_text(fields)
    except (TypeError, AttributeError, ValueError) as error:
        return f"fields of an unexpected shape ({error})"
    return None


def json_safe(value):
    """`value` with non-finite floats as null and strings that cannot be UTF-8 backslash-escaped:
    a file name's undecodable bytes as `\\xff`, a lone surrogate from a `\\ud800` escape as itself.
    Every report line is then valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _bad_line(number: int, reason: str, item: dict | None = None) -> dict:
    """The report line of an input line that could not be validated: rejected, with its reason."""
    return {"id": item.get("id") if item else None, "line": number, "record_id": None, "stage_scores": {}, "score": 0.0,
            "decision": AUTO_REJECT, "reasons": [f"input: {reason}"], "supporting_spans": [], "error": reason,
            "warnings": []}


def read_records(records_path: Path) -> tuple[list[dict | None], list[tuple[int, dict]]]:
    """Every input line: a report line already (bad line) or None, and the records to validate
    as (line number, object). Lines split on \\n, \\r\\n or \\r; blank lines count."""
    lines, items = [], []
    for number, raw in enumerate(records_path.read_bytes().splitlines(), start=1):
        item, problem = parse_line(raw)
        if problem:
            lines.append(_bad_line(number, problem))
            continue
        items.append((number, item))
        lines.append(None)
    return lines, items


def validate_file(records_path: Path, sources: Path, schema: str | None, embed: bool, eval_sets: list[str],
                  reject_contaminated: bool, echo=lambda m: None, judge=None, embedder=None) -> list[dict]:
    """The report lines for `records_path`, one per input line (plain function: the CLI and tests
    call it). `judge`: optional entailment judge for the grounding stage (validate.entailment);
    `embedder`: the one whose vectors every stage uses (default: the local model; unused without `embed`)."""
    from mbdg_assets.llm.prompts import load_template

    lines, items = read_records(records_path)
    fields = [record_fields(item) for _, item in items]
    template = load_template(schema or (guess_schema(fields[0]) if fields else "instruction_pair"))
    readable = []
    for (number, item), f in zip(items, fields):
        if problem := _fields_problem(f, template):
            lines[number - 1] = _bad_line(number, problem, item)
        else:
            readable.append((number, item, f))
    if readable:
        if embed and embedder is None:
            from mbdg_assets.enrich.embeddings import make_embedder

            embedder = make_embedder()
        _validate_readable(lines, readable, template, sources, embedder if embed else None, eval_sets,
                           reject_contaminated, echo, judge)
    return lines


def _validate_readable(lines: list, readable: list[tuple[int, dict, dict]], template, sources: Path, embedder,
                       eval_sets: list[str], reject_contaminated: bool, echo, judge) -> None:
    """Fills `lines` (indexed by line number - 1) with the validator's verdict on each readable record."""
    from mbdg_assets.validate.stages import stage_summary
    from mbdg_assets.validate.validator import ValidationParams, validate_candidates

    chunks = load_source_chunks(sources, echo)
    if not chunks:
        raise click.ClickException(f"{sources}: no readable source documents")
    best = best_chunks([template.answer_of(f) or json.dumps(f) for _, _, f in readable], chunks, embedder)
    priors = {number: prior_reward(item) for number, item, _ in readable}
    candidates = [{"candidate_id": f"{number:09d}", "fields": f, "chunk": chunks[b], "generation": {},
                   "reward": priors[number][0]} for (number, _, f), b in zip(readable, best)]
    params = ValidationParams(reject_contaminated=reject_contaminated)
    try:
        eval_index = EvalIndex.build(load_eval_texts(eval_sets)) if eval_sets else None
    except EvalSetError as error:
        raise click.ClickException(str(error)) from None
    records = validate_candidates(candidates, template.schema_name, template.json_schema, params, embedder=embedder,
                                  eval_index=eval_index, judge=judge)
    echo(stage_summary(records.stages))
    by_candidate = {r.candidate_id: r for r in records}
    ids = {r.record_id: r for r in records}
    for number, item, _ in readable:
        r = by_candidate[f"{number:09d}"]
        duplicate = ids.get(r.duplicate_of) if r.duplicate_of else None
        lines[number - 1] = {
            "id": item.get("id"), "line": number, "record_id": r.record_id, "stage_scores": r.stage_scores,
            "score": r.score, "decision": r.decision, "reasons": r.reasons,
            "supporting_spans": [s | {"path": r.paths[0]} for s in r.supporting_spans], "source_path": r.paths[0],
            "duplicate_of": r.duplicate_of, "duplicate_of_line": int(duplicate.candidate_id) if duplicate else None,
            "error": None, "warnings": priors[number][1]}


def _lines(records_path: Path, sources: Path, schema: str | None, embed: bool, eval_sets: list[str],
           reject_contaminated: bool, echo, embedder, judging: tuple) -> list[dict]:
    """validate_file with the entailment judge when `judging` (mode, backend, model, hosts,
    project) turns it on, and the judge's call counts said."""
    from mbdg_assets.validate.entailment import judge_enabled

    judge_mode, backend, model, hosts, project_dir = judging
    if not judge_enabled(judge_mode, backend):
        return validate_file(records_path, sources, schema, embed, eval_sets, reject_contaminated, echo, embedder=embedder)
    with _cached_judge(backend, model, hosts, project_dir) as judge:
        lines = validate_file(records_path, sources, schema, embed, eval_sets, reject_contaminated, echo, judge, embedder)
        echo(f"entailment judge: {backend} {judge.llm.model}: {judge.llm.misses} calls, {judge.llm.hits} cached; "
             + ", ".join(f"{k.removeprefix('entailment_')} {v}" for k, v in judge.stats().items() if v != ""))
    return lines


@click.command("validate")
@click.argument("records_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sources", required=True, type=click.Path(exists=True, path_type=Path), help="Folder (or file) of the source documents.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Report JSONL, one line per record.")
@click.option("--schema", default=None, help="instruction_pair | mcq | chat | path to a JSON Schema (default: guessed from the first record).")
@click.option("--eval-set", "eval_sets", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Evaluation items (JSONL or one per line) to check contamination against; repeatable.")
@click.option("--reject-contaminated", is_flag=True, help="Reject contaminated records (default: report them).")
@click.option("--no-embed", is_flag=True, help="Lexical evidence only (no embedding model; faster, no semantic dedup).")
@click.option("--judge", "judge_mode", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              is_flag=False, flag_value="on",
              help="LLM entailment check of reworded claims (--judge alone = on; auto = on for ollama/openai, off for "
                   "the embedded model, which judges no better than chance).")
@llm_options
@embed_options
@PROJECT_OPTION
def validate(records_path: Path, sources: Path, out_path: Path, schema: str | None, eval_sets: tuple[str, ...],
             reject_contaminated: bool, no_embed: bool, judge_mode: str, backend: str, model: str, hosts: tuple[str, ...],
             embed_backend: str, embed_model: str, embed_hosts: tuple[str, ...], embed_batch_size: int,
             embed_api_key_env: str, project_dir: str | None) -> None:
    """Run the five validation stages on an existing RECORDS_PATH dataset against its source documents."""
    from resources import VectorStoreResource

    try:
        embedder = VectorStoreResource(**embed_settings(embed_backend, embed_model, embed_hosts, embed_batch_size,
                                                        embed_api_key_env)).embedder()
    except ValueError as error:
        raise click.ClickException(str(error)) from None

    if schema and schema.endswith(".json"):
        schema = str(Path(schema).resolve())
    echo = lambda message: click.echo(message, err=True)  # noqa: E731
    try:
        lines = _lines(records_path, sources, schema, not no_embed, list(eval_sets), reject_contaminated, echo,
                       embedder, (judge_mode, backend, model, hosts, project_dir))
    except EmbeddingServerError as error:
        raise click.ClickException(str(error)) from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(json_safe(line), ensure_ascii=False, allow_nan=False) + "\n")
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["decision"]] = counts.get(line["decision"], 0) + 1
    unreadable = sum(1 for line in lines if line["error"] is not None)
    click.echo(f"lines: {len(lines)} ({unreadable} unreadable)  " + "  ".join(f"{k} {v}" for k, v in sorted(counts.items()))
               + f"  report: {out_path}", err=True)
    if not any(line["error"] is None for line in lines):
        click.echo("mbdg: no readable records in the input", err=True)
        sys.exit(1)
