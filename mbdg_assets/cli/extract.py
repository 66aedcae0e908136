"""`mbdg extract PATH... [--report REPORT.jsonl]`: extraction and chunking alone, one JSON line
per file, for checking what mbdg makes of a folder before spending model time on it. Each file
is read in a bounded worker process (extract/worker.py), so a hostile file costs its own line only.

No Dagster, no warehouse, no model: it calls the same plain extraction and chunking code the
assets call, so what it reports is what a run would get. A bad file is a line with status
"error", never the end of the command.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from mbdg_assets.enrich.chunking import DEFAULT_MAX_TOKENS, DEFAULT_TARGET_TOKENS, CountTokens, chunk_document, token_counter
from mbdg_assets.extract.extraction import SUPPORTED_FORMATS, ExtractionError, prepare_reader
from mbdg_assets.extract.folder_scan import FolderScan, Skipped, display_name
from mbdg_assets.extract.members import expand_archives, extract_source, one_archive_at_a_time, prepare_source, scan_sources
from mbdg_assets.extract.limits import DEFAULT_LIMITS, LIMIT_NAMES, ExtractionLimits, reading
from mbdg_assets.extract.worker import run_bounded


def expand(paths: tuple[Path, ...], follow_symlinks: bool = False,
           limits: ExtractionLimits = DEFAULT_LIMITS) -> Iterator[Path | Skipped]:
    """Files as given, and every document file under a folder (hidden and partial files skipped),
    an archive's members in its place (``a.zip/inner/b.pdf``, as a run reads them); folder entries
    that are not read (links out of the folder, FIFOs, devices) as Skipped."""
    for path in paths:
        if path.is_dir():
            root, scan = path, scan_sources(path, follow_symlinks, limits)
        elif path.is_file():
            root, scan = path.parent, expand_archives(path.parent, FolderScan({path.name: ""}), limits)
        else:
            yield path  # reported as unreadable
            continue
        found = [(tuple(r.split("/")), root / r) for r in scan.documents]
        found += [(s.path.parts, Skipped(root / s.path, s.code, s.reason)) for s in scan.skipped]
        yield from (item for _, item in sorted(found, key=lambda pair: pair[0]))


def _summary(path: Path, limits: ExtractionLimits, parser: str, target_tokens: int, max_tokens: int,
             overlap_tokens: int, count_tokens: CountTokens | None) -> dict:
    """Extract and chunk one file under one budget (the deadline covers both); only the figures
    travel back from the worker."""
    with reading(path.name, limits):
        doc = extract_source(path, parser, limits)
        chunks = chunk_document(doc, target_tokens, max_tokens, overlap_tokens, count_tokens)
    return {"format": doc.format, "parser": doc.parser, "pages": doc.pages, "chunks": len(chunks), "characters": len(doc.text)}


def extract_report(path: Path | Skipped, limits: ExtractionLimits = DEFAULT_LIMITS,
                   target_tokens: int = DEFAULT_TARGET_TOKENS, max_tokens: int = DEFAULT_MAX_TOKENS,
                   overlap_tokens: int = 0, count_tokens: CountTokens | None = None, parser: str = "auto",
                   isolate: bool = True) -> dict:
    """One report line for one file; every failure is caught and described, never raised.
    ``isolate``: read it in a bounded worker process (hard timeout, memory cap; extract/worker.py)."""
    started = time.perf_counter()
    real = path.path if isinstance(path, Skipped) else path
    line = {"path": display_name(real), "format": SUPPORTED_FORMATS.get(real.suffix.lower()), "status": "ok",
            "code": None, "reason": None, "parser": None, "pages": None, "chunks": 0, "characters": 0, "seconds": 0.0}
    if isinstance(path, Skipped):
        return line | {"status": "skipped", "code": path.code, "reason": display_name(f"{real.name}: {path.reason}")}
    args = (path, limits, parser, target_tokens, max_tokens, overlap_tokens, count_tokens)
    try:
        if isolate:
            prepare_source(path, limits)
            prepare_reader(path, parser)
        line |= run_bounded(_summary, args, path.name, limits) if isolate else _summary(*args)
    except ExtractionError as error:
        line |= {"status": "error", "code": error.code, "reason": display_name(error.message)}
    except Exception as error:  # a parser bug must not stop the other files; it is reported as such
        line |= {"status": "error", "code": "internal_error",
                 "reason": display_name(f"{path.name}: {type(error).__name__}: {error}")}
    line["seconds"] = round(time.perf_counter() - started, 4)
    return line


def limits_from_options(max_bytes: int, timeout: float, pairs: tuple[str, ...]) -> ExtractionLimits:
    """--max-bytes, --timeout and every --limit NAME=VALUE onto the default limits."""
    values: dict[str, str] = {"max_file_bytes": str(max_bytes), "timeout_s": str(timeout)}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE, NAME one of {', '.join(LIMIT_NAMES)}",
                                     param_hint="--limit")
        values[name.strip()] = value.strip()
    try:
        return DEFAULT_LIMITS.with_values(**values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--limit") from None


@click.command("extract")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the JSON lines here (default: standard output).")
@click.option("--max-bytes", default=DEFAULT_LIMITS.max_file_bytes, show_default=True, type=click.IntRange(1),
              help="Per-file size limit.")
@click.option("--timeout", default=DEFAULT_LIMITS.timeout_s, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds to read one file; a slower file is an error (code timeout) and the next file is read.")
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=VALUE",
              help=f"Another per-file budget (repeatable): {', '.join(LIMIT_NAMES)}.")
@click.option("--follow-symlinks", is_flag=True,
              help="Read links that lead out of a folder given (default: skip and report them).")
@click.option("--target-tokens", default=DEFAULT_TARGET_TOKENS, show_default=True, type=click.IntRange(1),
              help="Chunk size to aim for, in all-MiniLM-L6-v2 tokens.")
@click.option("--max-tokens", default=DEFAULT_MAX_TOKENS, show_default=True, type=click.IntRange(1),
              help="Hard chunk size limit (long tables and code blocks are cut between rows and lines).")
@click.option("--overlap-tokens", default=0, show_default=True, type=click.IntRange(0))
@click.option("--strict", is_flag=True, help="Exit 1 when any file failed (default: only when none could be read).")
@click.option("--parser", type=click.Choice(["auto", "native", "docling"]), default="auto", show_default=True,
              help="auto: the parser measured better per format; docling needs mbdg[docling].")
def extract(paths: tuple[Path, ...], report_path: Path | None, max_bytes: int, timeout: float,
            limit_pairs: tuple[str, ...], follow_symlinks: bool, target_tokens: int, max_tokens: int,
            overlap_tokens: int, strict: bool, parser: str) -> None:
    """Extract and chunk files or folders without running the pipeline; one JSON line per file.
    Each file is read in a worker process bounded by the per-file limits (--timeout, --limit)."""
    if max_tokens < target_tokens:
        raise click.UsageError("--max-tokens must be at least --target-tokens")
    limits = limits_from_options(max_bytes, timeout, limit_pairs)
    count_tokens = token_counter()
    out = report_path.open("w", encoding="utf-8") if report_path else sys.stdout
    counts = {"ok": 0, "error": 0, "skipped": 0}
    try:
        for path in one_archive_at_a_time(expand(paths, follow_symlinks, limits)):
            line = extract_report(path, limits, target_tokens, max_tokens, overlap_tokens, count_tokens, parser)
            counts[line["status"]] += 1
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            if report_path:
                detail = f"{line['chunks']} chunks, {line['parser']}" if line["status"] == "ok" else f"{line['code']}: {line['reason']}"
                click.echo(f"{line['path']}: {line['status']} ({detail})", err=True)
    finally:
        if report_path:
            out.close()
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    counts.pop("skipped")
    click.echo(f"files: {sum(counts.values())} ({counts['ok']} ok, {counts['error']} failed{skipped})", err=True)
    if counts["error"] and (strict or not counts["ok"]):
        click.echo(f"mbdg: {counts['error']} of {sum(counts.values())} files could not be extracted", err=True)
        sys.exit(1)
    if not sum(counts.values()):
        click.echo("mbdg: no files found", err=True)
        sys.exit(1)
