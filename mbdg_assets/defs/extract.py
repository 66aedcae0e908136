"""Phase 1: extract. Each document's text and structure, or its recorded, specific error."""

import dagster as dg

from mbdg_assets.extract.extraction import ExtractionError, prepare_reader
from mbdg_assets.extract.members import extract_source, source_sha256, split_source
from mbdg_assets.extract.worker import run_bounded
from mbdg_assets.storage.incremental import ensure_versions_table, extractor_version, mark_extracted, unchanged_document
from mbdg_assets.storage.tables import record_extraction_error, store_document
from mbdg_assets.enrich.topics import release_chunks
from mbdg_assets.defs.partitions import documents_partitions, in_groups, range_metadata
from resources import ProjectResource, WarehouseResource


def _extract_one(con, project: ProjectResource, path: str, version: str) -> tuple[dict, str | None]:
    """(metadata, None) for a stored document, (metadata, message) for a recorded extraction error."""
    file = project.docs_path() / path  # an archive member's path runs into its archive (extract/members.py)
    limits = project.extraction_limits()
    stored = unchanged_document(con, path, split_source(file)[0], project.max_file_bytes, version,
                                digest=lambda: source_sha256(file, limits))
    if stored is not None:  # same bytes, same extractor as last time: nothing to parse
        return stored | {"pages": stored["pages"] or 0, "unchanged": True}, None
    try:
        if project.isolate_extraction:  # hard timeout and memory cap: a hostile file fails alone
            prepare_reader(file, project.parser)
            doc = run_bounded(extract_source, (file, project.parser, limits), file.name, limits)
        else:
            doc = extract_source(file, project.parser, limits)
    except ExtractionError as error:
        release_chunks(con, path)  # its chunks go with its rows: their topics shrink
        record_extraction_error(con, path, error.code, error.message)
        return {"path": path, "error_code": error.code}, error.message
    store_document(con, path, doc)
    mark_extracted(con, path, version)
    kinds = sorted({b.kind for b in doc.blocks})
    return {"doc_id": doc.doc_id, "format": doc.format, "parser": doc.parser, "title": doc.title, "pages": doc.pages or 0,
            "characters": len(doc.text), "blocks": len(doc.blocks), "block_kinds": ", ".join(kinds),
            "unchanged": False}, None


@dg.asset(partitions_def=documents_partitions, group_name="extract", kinds={"python", "duckdb"},
          backfill_policy=dg.BackfillPolicy.single_run())
def source_documents(context: dg.AssetExecutionContext, project: ProjectResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Text and structure (headings, tables, lists, pages) of each source document of the run's
    partition range. One document's error is recorded (extraction_errors) and the others go on;
    a run of that one document fails with the error."""
    paths = list(context.partition_keys)
    version = extractor_version(project.parser)
    outcomes: dict[str, tuple[dict, str | None]] = {}
    for group in in_groups(paths):  # no file stays locked for a whole backfill
        with warehouse.connect() as con:
            ensure_versions_table(con)
            outcomes |= {path: _extract_one(con, project, path, version) for path in group}
    failed = {path: error for path, (_meta, error) in outcomes.items() if error}
    if len(paths) == 1:
        metadata, error = outcomes[paths[0]]
        if error:
            raise dg.Failure(description=error, metadata=metadata)
        return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(metadata["doc_id"]))
    unchanged = sum(bool(meta.get("unchanged")) for meta, _error in outcomes.values())
    return dg.MaterializeResult(metadata=range_metadata(paths, failed) | {"unchanged": unchanged})
