"""`mbdg extract PATH... [--report REPORT.jsonl]`: extraction and chunking alone, one JSON line
per file, for checking what mbdg makes of a folder before spending model time on it.

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
from mbdg_assets.extract.extraction import SUPPORTED_FORMATS, ExtractionError, extract_document
from mbdg_assets.extract.folder_scan import scan_documents


def expand(paths: tuple[Path, ...]) -> Iterator[Path]:
    """Files as given, and every document file under a folder (hidden and partial files skipped)."""
    for path in paths:
        if path.is_dir():
            yield from (path / relative for relative in scan_documents(path))
        else:
            yield path


def extract_report(path: Path, max_bytes: int, target_tokens: int = DEFAULT_TARGET_TOKENS,
                   max_tokens: int = DEFAULT_MAX_TOKENS, overlap_tokens: int = 0,
                   count_tokens: CountTokens | None = None, parser: str = "auto") -> dict:
    """One report line for one file; every failure is caught and described, never raised."""
    started = time.perf_counter()
    line = {"path": str(path), "format": SUPPORTED_FORMATS.get(path.suffix.lower()), "status": "ok", "code": None,
            "reason": None, "parser": None, "pages": None, "chunks": 0, "characters": 0, "seconds": 0.0}
    try:
        doc = extract_document(path, max_bytes, parser)
        chunks = chunk_document(doc, target_tokens, max_tokens, overlap_tokens, count_tokens)
        line |= {"format": doc.format, "parser": doc.parser, "pages": doc.pages, "chunks": len(chunks),
                 "characters": len(doc.text)}
    except ExtractionError as error:
        line |= {"status": "error", "code": error.code, "reason": error.message}
    except Exception as error:  # a parser bug must not stop the other files; it is reported as such
        line |= {"status": "error", "code": "internal_error", "reason": f"{path.name}: {type(error).__name__}: {error}"}
    line["seconds"] = round(time.perf_counter() - started, 4)
    return line


@click.command("extract")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the JSON lines here (default: standard output).")
@click.option("--max-bytes", default=50_000_000, show_default=True, type=click.IntRange(1), help="Per-file size limit.")
@click.option("--target-tokens", default=DEFAULT_TARGET_TOKENS, show_default=True, type=click.IntRange(1),
              help="Chunk size to aim for, in all-MiniLM-L6-v2 tokens.")
@click.option("--max-tokens", default=DEFAULT_MAX_TOKENS, show_default=True, type=click.IntRange(1),
              help="Hard chunk size limit (tables and code blocks are never split, so they may exceed it).")
@click.option("--overlap-tokens", default=0, show_default=True, type=click.IntRange(0))
@click.option("--strict", is_flag=True, help="Exit 1 when any file failed (default: only when none could be read).")
@click.option("--parser", type=click.Choice(["auto", "native", "docling"]), default="auto", show_default=True,
              help="auto: the parser measured better per format; docling needs mbdg[docling].")
def extract(paths: tuple[Path, ...], report_path: Path | None, max_bytes: int, target_tokens: int, max_tokens: int,
            overlap_tokens: int, strict: bool, parser: str) -> None:
    """Extract and chunk files or folders without running the pipeline; one JSON line per file."""
    if max_tokens < target_tokens:
        raise click.UsageError("--max-tokens must be at least --target-tokens")
    count_tokens = token_counter()
    out = report_path.open("w", encoding="utf-8") if report_path else sys.stdout
    counts = {"ok": 0, "error": 0}
    try:
        for path in expand(paths):
            line = extract_report(path, max_bytes, target_tokens, max_tokens, overlap_tokens, count_tokens, parser)
            counts[line["status"]] += 1
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            if report_path:
                detail = f"{line['chunks']} chunks, {line['parser']}" if line["status"] == "ok" else f"{line['code']}: {line['reason']}"
                click.echo(f"{path}: {line['status']} ({detail})", err=True)
    finally:
        if report_path:
            out.close()
    click.echo(f"files: {sum(counts.values())} ({counts['ok']} ok, {counts['error']} failed)", err=True)
    if counts["error"] and (strict or not counts["ok"]):
        click.echo(f"mbdg: {counts['error']} of {sum(counts.values())} files could not be extracted", err=True)
        sys.exit(1)
    if not sum(counts.values()):
        click.echo("mbdg: no files found", err=True)
        sys.exit(1)
