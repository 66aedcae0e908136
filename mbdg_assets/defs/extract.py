"""Phase 1: extract. One document's text and structure, or its recorded, specific error."""

import dagster as dg

from mbdg_assets.extract.extraction import ExtractionError, extract_document, prepare_reader
from mbdg_assets.extract.worker import run_bounded
from mbdg_assets.storage.incremental import ensure_versions_table, extractor_version, mark_extracted, unchanged_document
from mbdg_assets.storage.tables import record_extraction_error, store_document
from mbdg_assets.enrich.topics import release_chunks
from mbdg_assets.defs.partitions import documents_partitions
from resources import ProjectResource, WarehouseResource


@dg.asset(partitions_def=documents_partitions, group_name="extract", kinds={"python", "duckdb"})
def source_documents(context: dg.AssetExecutionContext, project: ProjectResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Text and structure (headings, tables, lists, pages) of one source document."""
    path = context.partition_key
    file = project.docs_path() / path
    version = extractor_version(project.parser)
    with warehouse.connect() as con:
        ensure_versions_table(con)
        stored = unchanged_document(con, path, file, project.max_file_bytes, version)
    if stored is not None:  # same bytes, same extractor as last time: nothing to parse
        return dg.MaterializeResult(metadata=stored | {"pages": stored["pages"] or 0, "unchanged": True},
                                    data_version=dg.DataVersion(stored["doc_id"]))
    limits = project.extraction_limits()
    try:
        if project.isolate_extraction:  # hard timeout and memory cap: a hostile file fails alone
            prepare_reader(file, project.parser)
            doc = run_bounded(extract_document, (file, None, project.parser, limits), file.name, limits)
        else:
            doc = extract_document(file, parser=project.parser, limits=limits)
    except ExtractionError as error:
        with warehouse.connect() as con:
            release_chunks(con, path)  # its chunks go with its rows: their topics shrink
            record_extraction_error(con, path, error.code, error.message)
        raise dg.Failure(description=error.message, metadata={"path": path, "error_code": error.code}) from None
    with warehouse.connect() as con:
        store_document(con, path, doc)
        mark_extracted(con, path, version)
    kinds = sorted({b.kind for b in doc.blocks})
    return dg.MaterializeResult(
        metadata={"doc_id": doc.doc_id, "format": doc.format, "parser": doc.parser, "title": doc.title, "pages": doc.pages or 0,
                  "characters": len(doc.text), "blocks": len(doc.blocks), "block_kinds": ", ".join(kinds),
                  "unchanged": False},
        data_version=dg.DataVersion(doc.doc_id),
    )
