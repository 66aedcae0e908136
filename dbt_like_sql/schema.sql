-- Tables of the project warehouse. Idempotent: run at every connection.
CREATE TABLE IF NOT EXISTS documents (
    path          VARCHAR PRIMARY KEY,   -- partition key: path relative to the docs folder
    doc_id        VARCHAR,               -- sha256 of the file bytes
    format        VARCHAR,
    title         VARCHAR,
    pages         INTEGER,
    chars         INTEGER,
    extracted_at  TIMESTAMP,
    parser        VARCHAR                -- which parser read it (native, docling, or a fallback note)
);
CREATE TABLE IF NOT EXISTS blocks (      -- a document's structure, one row per block; its text is the
    path          VARCHAR,               -- blocks joined by a blank line (extraction.BLOCK_SEPARATOR)
    position      INTEGER,
    kind          VARCHAR,               -- heading | paragraph | table | code | list
    text          VARCHAR,
    heading_path  VARCHAR[],
    page          INTEGER,
    start_char    INTEGER,               -- offsets in the document's text
    end_char      INTEGER,
    level         INTEGER,               -- headings: 1..6
    PRIMARY KEY (path, position)
);
CREATE TABLE IF NOT EXISTS extraction_errors (
    path        VARCHAR,
    code        VARCHAR,
    reason      VARCHAR,
    failed_at   TIMESTAMP
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id      VARCHAR PRIMARY KEY,
    doc_id        VARCHAR,
    path          VARCHAR,
    format        VARCHAR,
    position      INTEGER,
    text          VARCHAR,
    heading_path  VARCHAR[],
    pages         INTEGER[],
    start_char    INTEGER,
    end_char      INTEGER,
    content_hash  VARCHAR,
    topic         VARCHAR,
    -- enrichment (issue 3); older warehouses get these columns from core/incremental.py
    key_phrases   VARCHAR[],             -- RAKE phrases, best first
    entities      VARCHAR[],             -- rule-based named entities
    entity_types  VARCHAR[],             -- parallel to entities: NAME, DATE, MONEY, ...
    topic_id      INTEGER,               -- topics.topic_id (embedding cluster)
    topic_label   VARCHAR,               -- readable cluster label from key phrases
    doc_type      VARCHAR                -- email, slides, report, manual, ...
);
CREATE TABLE IF NOT EXISTS topics (        -- embedding clusters over all chunks, grown one document at a time
    topic_id    INTEGER PRIMARY KEY,
    label       VARCHAR,
    centroid    FLOAT[],
    size        INTEGER,
    created_at  TIMESTAMP
);
CREATE TABLE IF NOT EXISTS candidates (
    candidate_id       VARCHAR PRIMARY KEY,
    target_id          VARCHAR,
    chunk_id           VARCHAR,
    doc_id             VARCHAR,
    path               VARCHAR,
    schema_name        VARCHAR,
    rank               INTEGER,
    raw                VARCHAR,
    fields_json        VARCHAR,            -- parsed record, NULL when the answer was malformed
    error              VARCHAR,            -- why the candidate failed, NULL when it parsed
    reward_field       DOUBLE,
    reward_overall     DOUBLE,
    reward             DOUBLE,
    reward_detail_json VARCHAR,
    is_winner          BOOLEAN,
    generation_json    VARCHAR,
    created_at         TIMESTAMP
);
CREATE TABLE IF NOT EXISTS records (
    record_id            VARCHAR PRIMARY KEY,
    candidate_id         VARCHAR,
    schema_name          VARCHAR,
    fields_json          VARCHAR,
    chunk_ids            VARCHAR[],
    doc_ids              VARCHAR[],
    paths                VARCHAR[],
    topic                VARCHAR,
    stage_scores_json    VARCHAR,
    score                DOUBLE,
    decision             VARCHAR,
    reasons              VARCHAR[],
    supporting_spans_json VARCHAR,
    generation_json      VARCHAR,
    duplicate_of         VARCHAR,
    validated_at         TIMESTAMP
);
CREATE TABLE IF NOT EXISTS validation_stages (  -- per stage, what the latest validation kept and flagged
    stage              VARCHAR PRIMARY KEY,
    kept               INTEGER,           -- records the stage raised no reason for
    flagged            INTEGER,           -- records it raised a reason for
    failed             INTEGER,           -- of those, records it rejects whatever their score
    kinds_json         VARCHAR,           -- {why flagged: records}
    validated_at       TIMESTAMP
);
CREATE TABLE IF NOT EXISTS run_facts (  -- what a phase's latest run was told and did, written once by its asset
    phase              VARCHAR PRIMARY KEY,  -- validate: the settings records were judged by; export: the export's facts
    facts_json         VARCHAR,
    recorded_at        TIMESTAMP
);
CREATE TABLE IF NOT EXISTS plan_sizes (  -- each document's whole plan, pass by pass, as the candidates asset planned it
    path               VARCHAR PRIMARY KEY,  -- (the --records rounds spread budgets from these, without planning again)
    sizes              INTEGER[],            -- targets per pass in planning.KINDS order: base, multihop, deepen, broaden
    planned_at         TIMESTAMP
);
CREATE TABLE IF NOT EXISTS llm_calls (
    cache_key          VARCHAR PRIMARY KEY,
    backend            VARCHAR,
    model              VARCHAR,
    request_json       VARCHAR,
    text               VARCHAR,
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    seconds            DOUBLE,
    created_at         TIMESTAMP
);
CREATE TABLE IF NOT EXISTS review_decisions (
    record_id           VARCHAR,           -- records.record_id the reviewer judged
    decision            VARCHAR,           -- approve | reject | edit (edit = approve with edited fields)
    reviewer            VARCHAR,
    reason              VARCHAR,
    edited_fields_json  VARCHAR,           -- {field: new value} for edit, NULL otherwise
    decided_at          TIMESTAMP          -- the latest decision per record wins
);
CREATE TABLE IF NOT EXISTS text_vectors (  -- validation's embeddings (record texts, claims, source windows), filled per
    key     VARCHAR PRIMARY KEY,          -- slice while later slices generate (validate/vectors_ahead.py); key =
    vector  FLOAT[]                       -- validator.vector_key(embedder, text): the model's identity and the text
);
