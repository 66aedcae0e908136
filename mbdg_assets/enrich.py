"""Phase 2: enrich. Chunks with full attribution, a topic label, and vectors in LanceDB."""

import dagster as dg

from mbdg_assets.core.chunking import chunk_document
from mbdg_assets.core.store import load_document, replace_chunks
from mbdg_assets.extract import source_documents
from mbdg_assets.partitions import documents_partitions
from resources import VectorStoreResource, WarehouseResource


class ChunkingConfig(dg.Config):
    target_chars: int = 1200
    max_chars: int = 2400
    overlap_chars: int = 0


@dg.asset(partitions_def=documents_partitions, deps=[source_documents], group_name="enrich",
          kinds={"python", "duckdb", "lancedb"})
def enriched_chunks(context: dg.AssetExecutionContext, config: ChunkingConfig, warehouse: WarehouseResource,
                    vectors: VectorStoreResource) -> dg.MaterializeResult:
    """Structure-aware chunks of one document (path, pages, heading path, offsets, hashes) and their embeddings."""
    path = context.partition_key
    with warehouse.connect() as con:
        doc = load_document(con, path)
    chunks = chunk_document(doc, config.target_chars, config.max_chars, config.overlap_chars)
    topics = [c.heading_path[0] if c.heading_path else doc.title for c in chunks]
    embedder = vectors.embedder()
    embeddings = embedder.embed([c.text for c in chunks])
    rows = [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": path, "text": c.text} for c in chunks]
    vectors.store().replace_document_chunks(path, rows, embeddings)
    with warehouse.connect() as con:
        replace_chunks(con, path, chunks, topics)
    return dg.MaterializeResult(
        metadata={"chunks": len(chunks), "topics": len(set(topics)), "embedding_model": embedder.model,
                  "mean_chunk_chars": round(sum(len(c.text) for c in chunks) / max(len(chunks), 1))},
        data_version=dg.DataVersion(doc.doc_id),
    )
