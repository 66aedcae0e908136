"""Phase 2: enrich. Chunks with full attribution, key phrases, entities, a topic cluster and the
document type, and vectors in LanceDB (the text itself only in the warehouse)."""

from dataclasses import dataclass, field

import dagster as dg

from mbdg_assets.enrich.chunking import DEFAULT_MAX_TOKENS, DEFAULT_TARGET_TOKENS, chunk_document, chunking_key, token_counter
from mbdg_assets.enrich.annotate import enrichment_rows
from mbdg_assets.extract.formats.base import ExtractionError
from mbdg_assets.storage.incremental import chunks_current, ensure_enrichment_columns, ensure_versions_table, mark_chunked
from mbdg_assets.storage.tables import load_document, load_run_facts, record_run_facts, replace_chunks
from mbdg_assets.enrich.embeddings import DEFAULT_EMBEDDING_MODEL
from mbdg_assets.enrich.topics import empty_centroids, load_topics, previous_topics, release_chunks, save_topics
from mbdg_assets.defs.extract import SOURCE_DOCUMENTS
from mbdg_assets.defs.partitions import in_groups, range_metadata
from resources import VectorStoreResource, WarehouseResource


class ChunkingConfig(dg.Config):
    """Chunk sizes in tokens of the embedding model's tokenizer (all-MiniLM-L6-v2 reads 256)."""

    target_tokens: int = DEFAULT_TARGET_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = 0


def _key(config: ChunkingConfig, vectors: VectorStoreResource, embedder) -> str:
    """The chunking key with the embedder's identity when it is not the tokenizer's model (a
    server): another embedding model makes every document's chunks stale, so they are re-embedded."""
    tokenizer = vectors.tokenizer()
    return chunking_key(config.target_tokens, config.max_tokens, config.overlap_tokens, tokenizer,
                        "" if embedder.identity == tokenizer else embedder.identity)


TOPIC_SPACE_FACTS = "topic_space"  # run_facts row: {"embedder": identity} of the topic centroids


def _enter_space(con, identity: str) -> None:
    """Topic centroids are grown with this embedder's vectors: when they were another's, they are
    emptied (topics.empty_centroids). A project from before this record counts as all-MiniLM-L6-v2's."""
    stored = (load_run_facts(con, TOPIC_SPACE_FACTS) or {}).get("embedder", DEFAULT_EMBEDDING_MODEL)
    if stored != identity:
        empty_centroids(con)
        record_run_facts(con, TOPIC_SPACE_FACTS, {"embedder": identity})


def _stale(con, paths: list[str], config: ChunkingConfig, vectors: VectorStoreResource, store, key: str,
           failed: dict[str, str]) -> tuple[list, dict]:
    """(document, chunks) of each document whose chunks must be made again, and the metadata of
    those that are current; a document that was never extracted (its error is recorded) is skipped,
    and one over its chunk budget (max_chunks) goes into `failed` with the reason."""
    count = token_counter(vectors.tokenizer())
    stale, current = [], {}
    for path in paths:
        try:
            doc = load_document(con, path)
        except LookupError:
            continue
        try:
            chunks = chunk_document(doc, config.target_tokens, config.max_tokens, config.overlap_tokens, count)
        except ExtractionError as error:  # over max_chunks: this document fails, the others go on
            failed[path] = f"{error.code}: {error.message}"
            continue
        if chunks_current(con, path, [c.chunk_id for c in chunks], store.count_chunks(path), key):
            current[path] = {"chunks": len(chunks), "unchanged": True, "doc_id": doc.doc_id}
        else:
            stale.append((doc, chunks))
    return stale, current


def _store_enriched(con, doc, chunks, embeddings, key: str) -> dict:
    """One document's chunk rows, enrichment and topic sizes, in one transaction."""
    path = doc.path
    topics = [c.heading_path[0] if c.heading_path else doc.title for c in chunks]
    con.execute("BEGIN TRANSACTION")  # topic sizes and chunk rows change together or not at all
    release_chunks(con, path, keep=[c.chunk_id for c in chunks])
    clusters = load_topics(con)
    extra = enrichment_rows(doc.format, doc.title, doc.text, [c.text for c in chunks], [c.chunk_id for c in chunks],
                            topics, embeddings, clusters, previous_topics(con, path))
    save_topics(con, clusters)
    replace_chunks(con, path, chunks, topics, extra)
    mark_chunked(con, path, key)
    con.execute("COMMIT")
    return {"chunks": len(chunks), "topics": len(set(topics)), "topic_clusters": len({e["topic_id"] for e in extra}),
            "doc_type": extra[0]["doc_type"] if extra else "",
            "mean_chunk_chars": round(sum(len(c.text) for c in chunks) / max(len(chunks), 1)), "unchanged": False,
            "doc_id": doc.doc_id}


ENRICHED_CHUNKS = dg.AssetSpec(
    "enriched_chunks", deps=[SOURCE_DOCUMENTS], group_name="enrich", kinds={"python", "duckdb", "lancedb"},
    description="Structure-aware chunks of each document (path, pages, heading path, offsets, hashes), enriched "
                "(key phrases, entities, topic, document type), and their embeddings in LanceDB.")


@dataclass
class Enriched:
    """What enriching a range came to: each enriched document's facts, and why others were not."""

    done: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    embedding_model: str = ""

    def add(self, other: "Enriched") -> None:
        self.done |= other.done
        self.failed |= other.failed
        self.embedding_model = other.embedding_model or self.embedding_model


def enrich_documents(paths: list[str], config: ChunkingConfig, warehouse: WarehouseResource,
                     vectors: VectorStoreResource) -> Enriched:
    """Chunks, enrichment and embeddings of each document of `paths`: one embedding batch per
    group of documents, one warehouse connection per group, none open while embedding."""
    store, embedder = vectors.store(), vectors.embedder()
    key = _key(config, vectors, embedder)
    enriched = Enriched(embedding_model=embedder.identity)
    for group in in_groups(paths):
        with warehouse.connect() as con:
            ensure_enrichment_columns(con)
            ensure_versions_table(con)
            _enter_space(con, embedder.identity)
            stale, current = _stale(con, group, config, vectors, store, key, enriched.failed)
        enriched.done |= current
        if not stale:
            continue
        embeddings = embedder.embed([c.text for _doc, chunks in stale for c in chunks])
        offsets = [0]
        for _doc, chunks in stale:
            offsets.append(offsets[-1] + len(chunks))
        rows = [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": doc.path}
                for doc, chunks in stale for c in chunks]
        store.replace_chunks_of([doc.path for doc, _chunks in stale], rows, embeddings, embedder.identity)
        with warehouse.connect() as con:
            for (doc, chunks), start, end in zip(stale, offsets, offsets[1:]):
                enriched.done[doc.path] = _store_enriched(con, doc, chunks, embeddings[start:end], key)
    return enriched


def enrichment_result(paths: list[str], enriched: Enriched) -> dg.MaterializeResult:
    """enriched_chunks' materialization for the range `paths`: one document's facts and data
    version (a document that could not be enriched fails it), or counts and failures over many."""
    done, failed = enriched.done, enriched.failed
    skipped = {p: failed.get(p, "not extracted (see its extraction error)") for p in paths if p not in done}
    if len(paths) == 1:
        if skipped:
            reason = failed.get(paths[0], "not extracted yet (materialize source_documents for it first)")
            raise dg.Failure(description=f"{paths[0]}: {reason}")
        metadata = done[paths[0]] | {"embedding_model": enriched.embedding_model}
        return dg.MaterializeResult(asset_key=ENRICHED_CHUNKS.key, metadata=metadata,
                                    data_version=dg.DataVersion(metadata["doc_id"]))
    return dg.MaterializeResult(asset_key=ENRICHED_CHUNKS.key, metadata=range_metadata(paths, skipped) | {
        "chunks": sum(m["chunks"] for m in done.values()), "embedding_model": enriched.embedding_model,
        "unchanged": sum(bool(m.get("unchanged")) for m in done.values())})
