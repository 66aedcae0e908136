"""Phase 1: extract. Each document's text and structure, or its recorded, specific error."""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import dagster as dg

from mbdg_assets.extract.document import ExtractedDocument
from mbdg_assets.extract.extraction import ExtractionError, needs_docling, prepare_reader
from mbdg_assets.extract.listed_tars import listed_tars
from mbdg_assets.extract.members import extract_source, prepare_source, source_sha256, split_source
from mbdg_assets.extract.worker import clean_context, run_bounded
from mbdg_assets.storage.incremental import ensure_versions_table, extractor_version, mark_extracted, unchanged_document
from mbdg_assets.storage.tables import record_extraction_error, store_document
from mbdg_assets.enrich.topics import release_chunks
from mbdg_assets.defs.partitions import in_groups, range_metadata
from resources import ProjectResource, WarehouseResource


Parsed = ExtractedDocument | ExtractionError


def _unchanged(con, project: ProjectResource, path: str, version: str) -> dict | None:
    """The stored document's metadata when the file has the same bytes and extractor as last time."""
    file = project.docs_path() / path  # an archive member's path runs into its archive (extract/members.py)
    stored = unchanged_document(con, path, split_source(file)[0], project.max_file_bytes, version,
                                digest=lambda: source_sha256(file, project.extraction_limits()))
    return None if stored is None else stored | {"pages": stored["pages"] or 0, "unchanged": True}


def _parse(project: ProjectResource, path: str) -> Parsed:
    """The file's document, or its extraction error. Runs with no warehouse connection open: the
    generate lane (defs/lanes.py) commits its answers meanwhile."""
    file, limits = project.docs_path() / path, project.extraction_limits()
    try:
        if project.isolate_extraction:  # hard timeout and memory cap: a hostile file fails alone
            return run_bounded(extract_source, (file, project.parser, limits), file.name, limits,
                               clean=_reads_clean(file, project.parser))
        return extract_source(file, project.parser, limits)
    except ExtractionError as error:
        return error


def _reads_clean(file: Path, parser: str) -> bool:
    """Whether the file's worker may come from the forkserver (extract/worker.py): it needs nothing
    this process prepares, neither a tar's listing (an archive member) nor docling's warm-up."""
    return split_source(file)[1] is None and not needs_docling(file, parser)


def _parse_all(project: ProjectResource, paths: list[str]) -> dict[str, Parsed]:
    """Each file parsed; with isolated extraction, several at once (each in its own forked worker,
    so they use all cores); in-process parsing holds the interpreter lock, so it goes one by one."""
    workers = (project.extraction_workers or os.cpu_count() or 1) if project.isolate_extraction else 1
    if project.isolate_extraction:  # imports happen here, before any fork: no thread imports while another forks
        prepared = [path for path in paths if not _reads_clean(project.docs_path() / path, project.parser)]
        if len(prepared) < len(paths):
            clean_context()  # the forkserver, started once before the threads need it
        for path in prepared:  # a tar is listed (inflated) once here, not in every member's worker
            prepare_source(project.docs_path() / path, project.extraction_limits())
            with suppress(ExtractionError):  # the worker meets the same error and reports it for this file
                prepare_reader(project.docs_path() / path, project.parser)
    if workers == 1 or len(paths) < 2:
        return {path: _parse(project, path) for path in paths}
    with ThreadPoolExecutor(min(workers, len(paths)), thread_name_prefix="mbdg-extract") as pool:
        return dict(zip(paths, pool.map(lambda path: _parse(project, path), paths)))


def _store_parsed(con, path: str, parsed: Parsed, version: str) -> tuple[dict, str | None]:
    """(metadata, None) for a stored document, (metadata, message) for a recorded extraction error."""
    if isinstance(parsed, ExtractionError):
        release_chunks(con, path)  # its chunks go with its rows: their topics shrink
        record_extraction_error(con, path, parsed.code, parsed.message)
        return {"path": path, "error_code": parsed.code}, parsed.message
    store_document(con, path, parsed)
    mark_extracted(con, path, version)
    kinds = sorted({b.kind for b in parsed.blocks})
    return {"doc_id": parsed.doc_id, "format": parsed.format, "parser": parsed.parser, "title": parsed.title,
            "pages": parsed.pages or 0, "characters": len(parsed.text), "blocks": len(parsed.blocks),
            "block_kinds": ", ".join(kinds), "unchanged": False}, None


def _extract_group(warehouse: WarehouseResource, project: ProjectResource, paths: list[str],
                   version: str) -> dict[str, tuple[dict, str | None]]:
    """One group of files: what is unchanged is looked up and the results stored on short
    connections; the parsing in between holds none (no file stays locked while files are read).
    A tar whose members are read is listed (inflated) once for the group (extract/listed_tars.py)."""
    with listed_tars():
        with warehouse.connect() as con:
            ensure_versions_table(con)
            unchanged = {path: _unchanged(con, project, path, version) for path in paths}
        parsed = _parse_all(project, [path for path in paths if unchanged[path] is None])
    outcomes = {path: (meta, None) for path, meta in unchanged.items() if meta is not None}
    with warehouse.connect() as con:
        outcomes |= {path: _store_parsed(con, path, result, version) for path, result in parsed.items()}
    return outcomes


SOURCE_DOCUMENTS = dg.AssetSpec(
    "source_documents", group_name="extract", kinds={"python", "duckdb"},
    description="Text and structure (headings, tables, lists, pages) of each source document. One document's "
                "error is recorded (extraction_errors) and the others go on; a run of that one document fails "
                "with the error.")

Extracted = dict[str, tuple[dict, str | None]]  # path -> (metadata, extraction error or None)


def extract_documents(paths: list[str], project: ProjectResource, warehouse: WarehouseResource) -> Extracted:
    """Each document of `paths` extracted and stored (or its error recorded), a group of files at
    a time; what each came to, for `extraction_result` (the lanes gather it slice by slice)."""
    version = extractor_version(project.parser)
    outcomes: Extracted = {}
    for group in in_groups(paths):
        outcomes |= _extract_group(warehouse, project, group, version)
    return outcomes


def extraction_result(paths: list[str], outcomes: Extracted) -> dg.MaterializeResult:
    """source_documents' materialization for the range `paths`: one document's facts and data
    version (its error fails it), or counts and failures over many."""
    failed = {path: error for path, (_meta, error) in outcomes.items() if error}
    if len(paths) == 1:
        metadata, error = outcomes[paths[0]]
        if error:
            raise dg.Failure(description=error, metadata=metadata)
        return dg.MaterializeResult(asset_key=SOURCE_DOCUMENTS.key, metadata=metadata,
                                    data_version=dg.DataVersion(metadata["doc_id"]))
    unchanged = sum(bool(meta.get("unchanged")) for meta, _error in outcomes.values())
    return dg.MaterializeResult(asset_key=SOURCE_DOCUMENTS.key,
                                metadata=range_metadata(paths, failed) | {"unchanged": unchanged})
