"""Phase 2: enrich. Chunks with full attribution, key phrases, entities, a topic cluster and the
document type, and vectors in LanceDB (the text itself only in the warehouse)."""

import dagster as dg

from mbdg_assets.enrich.chunking import DEFAULT_MAX_TOKENS, DEFAULT_TARGET_TOKENS, chunk_document, chunking_key, token_counter
from mbdg_assets.enrich.annotate import enrichment_rows
from mbdg_assets.extract.formats.base import ExtractionError
from mbdg_assets.storage.incremental import chunks_current, ensure_enrichment_columns, ensure_versions_table, mark_chunked
from mbdg_assets.storage.tables import load_document, replace_chunks
from mbdg_assets.enrich.topics import load_topics, previous_topics, release_chunks, save_topics
from mbdg_assets.defs.extract import source_documents
from mbdg_assets.defs.partitions import documents_partitions
from resources import VectorStoreResource, WarehouseResource


class ChunkingConfig(dg.Config):
    """Chunk sizes in tokens of the embedding model's tokenizer (all-MiniLM-L6-v2 reads 256)."""

    target_tokens: int = DEFAULT_TARGET_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = 0


@dg.asset(partitions_def=documents_partitions, deps=[source_documents], group_name="enrich",
          kinds={"python", "duckdb", "lancedb"})
def enriched_chunks(context: dg.AssetExecutionContext, config: ChunkingConfig, warehouse: WarehouseResource,
                    vectors: VectorStoreResource) -> dg.MaterializeResult:
    """Structure-aware chunks of one document (path, pages, heading path, offsets, hashes), enriched, and their embeddings."""
    path = context.partition_key
    store = vectors.store()
    with warehouse.connect() as con:
        ensure_enrichment_columns(con)
        ensure_versions_table(con)
        doc = load_document(con, path)
        try:
            chunks = chunk_document(doc, config.target_tokens, config.max_tokens, config.overlap_tokens,
                                    token_counter(vectors.embedding_model))
        except ExtractionError as error:  # over max_chunks: this document fails, the run goes on
            raise dg.Failure(description=error.message, metadata={"path": path, "error_code": error.code}) from None
        key = chunking_key(config.target_tokens, config.max_tokens, config.overlap_tokens, vectors.embedding_model)
        if chunks_current(con, path, [c.chunk_id for c in chunks], store.count_chunks(path), key):
            return dg.MaterializeResult(metadata={"chunks": len(chunks), "unchanged": True},
                                        data_version=dg.DataVersion(doc.doc_id))
    topics = [c.heading_path[0] if c.heading_path else doc.title for c in chunks]
    embedder = vectors.embedder()
    embeddings = embedder.embed([c.text for c in chunks])
    rows = [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": path} for c in chunks]
    store.replace_document_chunks(path, rows, embeddings)
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")  # topic sizes and chunk rows change together or not at all
        release_chunks(con, path, keep=[c.chunk_id for c in chunks])
        clusters = load_topics(con)
        extra = enrichment_rows(doc.format, doc.title, doc.text, [c.text for c in chunks], [c.chunk_id for c in chunks],
                                topics, embeddings, clusters, previous_topics(con, path))
        save_topics(con, clusters)
        replace_chunks(con, path, chunks, topics, extra)
        mark_chunked(con, path, key)
        con.execute("COMMIT")
    return dg.MaterializeResult(
        metadata={"chunks": len(chunks), "topics": len(set(topics)), "embedding_model": embedder.model,
                  "topic_clusters": len({e["topic_id"] for e in extra}), "doc_type": extra[0]["doc_type"] if extra else "",
                  "mean_chunk_chars": round(sum(len(c.text) for c in chunks) / max(len(chunks), 1)), "unchanged": False},
        data_version=dg.DataVersion(doc.doc_id),
    )
